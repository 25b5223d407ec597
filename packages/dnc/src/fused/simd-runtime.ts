import { assemble } from './wasm.js';
import { linkBackwardKernel, linkForwardKernel } from './simd-link.js';
import {
  eraseWriteBackwardKernel,
  eraseWriteKernel,
  matMulKernel,
  rowDotsKernel,
  rowMixKernel,
  rowSquaresKernel,
  rowUpdateKernel,
} from './simd-rows.js';

// One WebAssembly module holding every SIMD kernel of the fused step, built at first use, and
// its memory. A kernel call copies its arrays in (`Staging.input`), runs, and copies results
// out (`Staging.read`): a few memcpy's per call, small next to the arithmetic.

/** The part of the WebAssembly JS API used here (the project's TS libs declare no DOM types). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number }) => {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

const PAGE_BYTES = 65536;

/** A kernel: i32 arguments (sizes and byte addresses), no result. */
export type Kernel = (...args: number[]) => void;

/** The kernels by name. */
export interface SimdKernels {
  readonly rowDots: Kernel;
  readonly rowSquares: Kernel;
  readonly rowMix: Kernel;
  readonly rowUpdate: Kernel;
  readonly matMul: Kernel;
  readonly eraseWrite: Kernel;
  readonly eraseWriteBackward: Kernel;
}

/** The dense link kernels of R read heads (a module of their own per R, on the same memory). */
export interface LinkKernelExports {
  readonly linkForward: Kernel;
  readonly linkBackward: Kernel;
}

/**
 * A module instance with its own memory. A kernel call places its arrays there one after
 * another (16-byte aligned) from the end of the pinned ones: `begin`, then `input` / `zeros` /
 * `output` give byte addresses, and `read` copies results back. Arrays that already live in
 * this memory (views from {@link SimdRuntime.view}) are used in place, not copied.
 */
export class SimdRuntime {
  private heap: Float32Array;
  private top = 0;
  /** End of the pinned arrays and views (floats), where every call's arrays start. */
  private base = 0;
  /** Views handed out: the memory may not grow while they are in use (it would detach them). */
  private viewsOut = false;

  constructor(
    private readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number },
    readonly kernels: SimdKernels,
  ) {
    this.heap = new Float32Array(memory.buffer);
  }

  private readonly linkModules = new Map<number, LinkKernelExports>();

  /** The dense link kernels specialised for `heads` read heads, on this memory. */
  linkKernels(heads: number): LinkKernelExports {
    let kernels = this.linkModules.get(heads);
    if (!kernels) {
      const c = compile() as Compiled;
      const { exports } = new c.wasm.Instance(linkModule(c, heads), {
        env: { memory: this.memory },
      });
      kernels = exports as unknown as LinkKernelExports;
      this.linkModules.set(heads, kernels);
    }
    return kernels;
  }

  /** Bytes of memory. */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /** Starts a call: its arrays are placed after the pinned ones. */
  begin(): this {
    this.top = this.base;
    return this;
  }

  /** The current end of the pinned arrays, for {@link SimdRuntime.unpinTo}. */
  mark(): number {
    return this.base;
  }

  /**
   * Copies `values` [rows, cols] in to stay across calls, each row padded with zeros to
   * `stride` >= cols floats; returns its byte address. Pinned arrays last until
   * {@link SimdRuntime.unpinTo} a mark taken before.
   */
  pin(values: Float32Array, rows: number, cols: number, stride: number): number {
    this.top = this.base;
    const start = this.reserve(rows * stride);
    for (let r = 0; r < rows; r++) {
      this.heap.set(values.subarray(r * cols, (r + 1) * cols), start + r * stride);
      this.heap.fill(0, start + r * stride + cols, start + (r + 1) * stride);
    }
    this.base = this.top;
    return start * 4;
  }

  /** Frees the arrays pinned after `mark`. */
  unpinTo(mark: number): void {
    this.base = mark;
    this.top = mark;
  }

  /** Grows the memory to at least `floats` floats (do it before handing out views). */
  ensure(floats: number): void {
    const bytes = floats * 4;
    if (bytes <= this.memory.buffer.byteLength) return;
    if (this.viewsOut) throw new Error('SimdRuntime: cannot grow while views are out');
    this.memory.grow(Math.ceil((bytes - this.memory.buffer.byteLength) / PAGE_BYTES));
    this.heap = new Float32Array(this.memory.buffer);
  }

  /**
   * A view of `size` floats of the memory (zeroed when `zero`), pinned until
   * {@link SimdRuntime.reset}; kernels use it in place. From the first view on, the memory
   * cannot grow: size it first.
   */
  view(size: number, zero = true): Float32Array {
    this.top = this.base;
    const start = this.reserve(size);
    this.base = this.top;
    this.viewsOut = true;
    const view = this.heap.subarray(start, start + size);
    if (zero) view.fill(0);
    return view;
  }

  /** Frees everything (views included; they must not be used afterwards). */
  reset(): void {
    this.base = 0;
    this.top = 0;
    this.viewsOut = false;
  }

  private reserve(floats: number): number {
    const start = this.top;
    this.top += (floats + 3) & ~3;
    this.ensure(this.top);
    return start;
  }

  /** Byte address of `array` when it is a view of this memory, else -1. */
  private addressOf(array: ArrayLike<number>): number {
    const view = array as Float32Array;
    return view.buffer === this.memory.buffer ? view.byteOffset : -1;
  }

  /** The first `size` values of `values`, copied in unless already here; their byte address. */
  input(values: ArrayLike<number>, size: number): number {
    const here = this.addressOf(values);
    if (here >= 0) return here;
    const start = this.reserve(size);
    const from = values as Float32Array;
    this.heap.set(size === from.length ? from : from.subarray(0, size), start);
    return start * 4;
  }

  /** Where a kernel writes `to` [size]: in place when it is here, else `size` zeros. */
  output(to: Float32Array, size: number): number {
    const here = this.addressOf(to);
    return here >= 0 ? here : this.zeros(size);
  }

  /** Copies `values` [rows, cols] in with each row padded with zeros to `stride` floats. */
  inputPadded(values: Float32Array, rows: number, cols: number, stride: number): number {
    if (stride === cols) return this.input(values, rows * cols);
    const start = this.reserve(rows * stride);
    for (let r = 0; r < rows; r++) {
      this.heap.set(values.subarray(r * cols, (r + 1) * cols), start + r * stride);
      this.heap.fill(0, start + r * stride + cols, start + (r + 1) * stride);
    }
    return start * 4;
  }

  /** Copies `rows` rows of `cols` values, `stride` apart from byte address `address`, into `to`. */
  readPadded(address: number, rows: number, cols: number, stride: number, to: Float32Array): void {
    if (stride === cols) return this.read(address, rows * cols, to);
    const at = address / 4;
    for (let r = 0; r < rows; r++)
      to.set(this.heap.subarray(at + r * stride, at + r * stride + cols), r * cols);
  }

  /** `size` zeros; returns their byte address. */
  zeros(size: number): number {
    const start = this.reserve(size);
    this.heap.fill(0, start, start + size);
    return start * 4;
  }

  /** Copies `size` values from byte address `address` into `to` (nothing when `to` is there). */
  read(address: number, size: number, to: Float32Array): void {
    if (this.addressOf(to) === address) return;
    to.set(this.heap.subarray(address / 4, address / 4 + size));
  }

  /** Adds `size` values from byte address `address` to `to`. */
  add(address: number, size: number, to: Float32Array | Float64Array): void {
    const at = address / 4;
    for (let k = 0; k < size; k++) to[k] = (to[k] as number) + (this.heap[at + k] as number);
  }
}

interface Compiled {
  readonly wasm: WebAssemblyApi;
  readonly module: object;
  readonly linkModules: Map<number, object>;
}

let compiled: Compiled | undefined | null = null;

/** The module, compiled once; undefined where WebAssembly SIMD is unavailable. */
function compile(): Compiled | undefined {
  if (compiled !== null) return compiled;
  compiled = undefined;
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (!wasm) return undefined;
  const bytes = assemble([
    rowDotsKernel(),
    rowSquaresKernel(),
    rowMixKernel(),
    rowUpdateKernel(),
    matMulKernel(),
    eraseWriteKernel(),
    eraseWriteBackwardKernel(),
  ]);
  if (!wasm.validate(bytes)) return undefined; // no WebAssembly SIMD here
  compiled = { wasm, module: new wasm.Module(bytes), linkModules: new Map() };
  return compiled;
}

/** The link kernels' module for R read heads, compiled once per R. */
function linkModule(c: Compiled, heads: number): object {
  let module = c.linkModules.get(heads);
  if (!module) {
    module = new c.wasm.Module(assemble([linkForwardKernel(heads), linkBackwardKernel(heads)]));
    c.linkModules.set(heads, module);
  }
  return module;
}

function instantiate(): SimdRuntime | undefined {
  const c = compile();
  if (!c) return undefined;
  const memory = new c.wasm.Memory({ initial: 1 });
  const { exports } = new c.wasm.Instance(c.module, { env: { memory } });
  return new SimdRuntime(memory, exports as unknown as SimdKernels);
}

let shared: SimdRuntime | undefined | null = null;

/** The shared runtime (staging only, no views), built once; undefined without SIMD. */
export function simdRuntime(): SimdRuntime | undefined {
  if (shared === null) shared = instantiate();
  return shared;
}

const spare: SimdRuntime[] = [];

/**
 * A runtime of its own with room for at least `floats` floats, for views that live across
 * many calls (a sequence's links); give it back with {@link releaseSimdRuntime}.
 */
export function acquireSimdRuntime(floats: number): SimdRuntime | undefined {
  const fits = spare.findIndex((r) => r.capacity >= floats * 4);
  const runtime = fits >= 0 ? spare.splice(fits, 1)[0] : (spare.pop() ?? instantiate());
  runtime?.ensure(floats);
  return runtime;
}

/** Gives a runtime from {@link acquireSimdRuntime} back (its views must no longer be used). */
export function releaseSimdRuntime(runtime: SimdRuntime): void {
  runtime.reset();
  spare.push(runtime);
  if (spare.length > 2) spare.shift();
}
