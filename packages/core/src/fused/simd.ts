import { assemble, f32, f32x4, FunctionBuilder, set, V128, type KernelCode } from './wasm.js';

// The WebAssembly SIMD runtime of the fused kernels: modules assembled by `wasm.ts` at first
// use (compiled once per process), instantiated on a runtime's own memory. A kernel call copies
// its arrays in (`input`), runs, and copies results out (`read`): a few memcpy's per call,
// small next to the arithmetic. Arrays that already live in the memory (`view`) are used in
// place.

/** The part of the WebAssembly JS API used here (the project's TS libs declare no DOM types). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

const PAGE_BYTES = 65536;

/** A kernel: i32 arguments (sizes and byte addresses), no result. */
export type Kernel = (...args: number[]) => void;

const wasmApi = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
const compiled = new Map<string, object | null>();

/** The module named `key` from `build`, compiled once; null where it does not validate. */
function compiledModule(key: string, build: () => readonly KernelCode[]): object | null {
  let module = compiled.get(key);
  if (module === undefined) {
    const bytes = assemble(build());
    module = wasmApi?.validate(bytes) ? new wasmApi.Module(bytes) : null;
    compiled.set(key, module);
  }
  return module;
}

let available: boolean | undefined;

/** Whether this engine runs WebAssembly SIMD (checked once, with a one-instruction module). */
export function simdAvailable(): boolean {
  if (available === undefined) {
    const probe = new FunctionBuilder('probe', []);
    const { v } = probe.locals(V128, 'v');
    available =
      wasmApi?.validate(assemble([{ builder: probe, body: set(v, f32x4.splat(f32.const(0))) }])) ??
      false;
  }
  return available;
}

/**
 * A WebAssembly memory with kernel modules instantiated on it. A kernel call places its arrays
 * there one after another (16-byte aligned) from the end of the pinned ones: `begin`, then
 * `input` / `zeros` / `output` give byte addresses, and `read` copies results back. Arrays that
 * already live in this memory (views from {@link SimdRuntime.view}) are used in place.
 */
export class SimdRuntime {
  private floats: Float32Array;
  /** The memory's current buffer (reading `memory.buffer` is slower than a field). */
  private buffer: ArrayBufferLike;
  private top = 0;
  /** End of the pinned arrays and views (floats), where every call's arrays start. */
  private base = 0;
  /** Views handed out: the memory may not grow while they are in use (it would detach them). */
  private viewsOut = false;
  private readonly modules = new Map<string, Readonly<Record<string, Kernel>>>();

  private constructor(private readonly memory: WasmMemory) {
    this.floats = new Float32Array(memory.buffer);
    this.buffer = this.floats.buffer;
  }

  /** A runtime with a memory of its own; undefined where WebAssembly SIMD is unavailable. */
  static create(): SimdRuntime | undefined {
    return simdAvailable() && wasmApi
      ? new SimdRuntime(new wasmApi.Memory({ initial: 1 }))
      : undefined;
  }

  /**
   * The kernels of the module `key` (assembled from `build` the first time any runtime asks
   * for `key`), instantiated on this memory, by name; undefined when the module does not
   * validate.
   */
  kernels<K extends string>(
    key: string,
    build: () => readonly KernelCode[],
  ): Readonly<Record<K, Kernel>> | undefined {
    let kernels = this.modules.get(key);
    if (!kernels) {
      const module = compiledModule(key, build);
      if (!module || !wasmApi) return undefined;
      const { exports } = new wasmApi.Instance(module, { env: { memory: this.memory } });
      kernels = exports as Record<string, Kernel>;
      this.modules.set(key, kernels);
    }
    return kernels as Readonly<Record<K, Kernel>>;
  }

  /** The whole memory as floats (a new array after the memory grows). */
  get heap(): Float32Array {
    return this.floats;
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
    this.copyPadded(values, rows, cols, stride, start);
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
    if (floats <= this.floats.length) return;
    const bytes = floats * 4;
    if (this.viewsOut) throw new Error('SimdRuntime: cannot grow while views are out');
    this.memory.grow(Math.ceil((bytes - this.memory.buffer.byteLength) / PAGE_BYTES));
    this.floats = new Float32Array(this.memory.buffer);
    this.buffer = this.floats.buffer;
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
    const view = this.floats.subarray(start, start + size);
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

  private copyPadded(
    values: Float32Array,
    rows: number,
    cols: number,
    stride: number,
    start: number,
  ): void {
    for (let r = 0; r < rows; r++) {
      this.floats.set(values.subarray(r * cols, (r + 1) * cols), start + r * stride);
      this.floats.fill(0, start + r * stride + cols, start + (r + 1) * stride);
    }
  }

  /** Byte address of `array` when it is a view of this memory, else -1. */
  private addressOf(array: ArrayLike<number>): number {
    const view = array as Float32Array;
    return view.buffer === this.buffer ? view.byteOffset : -1;
  }

  /** The first `size` values of `values`, copied in unless already here; their byte address. */
  input(values: ArrayLike<number>, size: number): number {
    const here = this.addressOf(values);
    if (here >= 0) return here;
    const start = this.reserve(size);
    const from = values as Float32Array;
    this.floats.set(size === from.length ? from : from.subarray(0, size), start);
    return start * 4;
  }

  /** Where a kernel writes `to` (`size` floats): in place when it is here, else `size` zeros. */
  output(to: Float32Array, size: number): number {
    const here = this.addressOf(to);
    return here >= 0 ? here : this.zeros(size);
  }

  /**
   * Where a kernel accumulates into `to` (`size` floats): `to` itself, zeroed, when it is here,
   * else `size` zeros (copy them out with {@link SimdRuntime.read}, a no-op in the first case).
   */
  cleared(to: Float32Array, size: number): number {
    const here = this.addressOf(to);
    if (here < 0) return this.zeros(size);
    to.fill(0, 0, size);
    return here;
  }

  /** Copies `values` [rows, cols] in with each row padded with zeros to `stride` floats. */
  inputPadded(values: Float32Array, rows: number, cols: number, stride: number): number {
    if (stride === cols) return this.input(values, rows * cols);
    const start = this.reserve(rows * stride);
    this.copyPadded(values, rows, cols, stride, start);
    return start * 4;
  }

  /** Copies `rows` rows of `cols` values, `stride` apart from byte address `address`, into `to`. */
  readPadded(address: number, rows: number, cols: number, stride: number, to: Float32Array): void {
    if (stride === cols) return this.read(address, rows * cols, to);
    const at = address / 4;
    for (let r = 0; r < rows; r++)
      to.set(this.floats.subarray(at + r * stride, at + r * stride + cols), r * cols);
  }

  /** `size` zeros; returns their byte address. */
  zeros(size: number): number {
    const start = this.reserve(size);
    this.floats.fill(0, start, start + size);
    return start * 4;
  }

  /** Copies `size` values from byte address `address` into `to` (nothing when `to` is there). */
  read(address: number, size: number, to: Float32Array | Float64Array): void {
    if (this.addressOf(to) === address) return;
    to.set(this.floats.subarray(address / 4, address / 4 + size));
  }

  /** Adds `size` values from byte address `address` to `to`. */
  add(address: number, size: number, to: Float32Array | Float64Array): void {
    const at = address / 4;
    for (let k = 0; k < size; k++) to[k] = (to[k] as number) + (this.floats[at + k] as number);
  }
}

let shared: SimdRuntime | undefined | null = null;

/** The shared runtime (for calls that stage their arrays, never for views); undefined without SIMD. */
export function simdRuntime(): SimdRuntime | undefined {
  if (shared === null) shared = SimdRuntime.create();
  return shared;
}

const spare: SimdRuntime[] = [];

/**
 * A runtime of its own with room for at least `floats` floats, for views that live across
 * many calls; give it back with {@link releaseSimdRuntime}.
 */
export function acquireSimdRuntime(floats: number): SimdRuntime | undefined {
  const fits = spare.findIndex((r) => r.capacity >= floats * 4);
  const runtime = fits >= 0 ? spare.splice(fits, 1)[0] : (spare.pop() ?? SimdRuntime.create());
  runtime?.ensure(floats);
  return runtime;
}

/** Gives a runtime from {@link acquireSimdRuntime} back (its views must no longer be used). */
export function releaseSimdRuntime(runtime: SimdRuntime): void {
  runtime.reset();
  spare.push(runtime);
  if (spare.length > 2) spare.shift();
}
