import { copyRows, rowView, type Rows } from './rows.js';
import { simdRuntime, type Kernel, type SimdRuntime } from './simd.js';
import { lstmCellExports } from './simd-lstm-cell.js';

// The LSTM cell of a batch, with the gate layout and formula of core's `lstmCell`:
// z = [i, f, g, o] pre-activations, c' = s(f) c + s(i) tanh(g), h' = s(o) tanh(c'), then h'
// clipped to +-clip (the memory network's controller-output clip; Infinity disables it).
// B batch, C units; arrays row-major [B, ...]. The fused sequences of the NTM and the DNC, and
// the fused LSTM baseline, run their LSTMs through these two functions. Both steps run in
// WebAssembly SIMD where they can (`simd-lstm-cell.ts`), with the plain-JS steps' results bit
// for bit; the plain-JS steps stay as their reference and fallback.

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
/** tanh through one exp (~30% faster than Math.tanh in V8), within ~1e-16 of it. */
const tanh = (x: number): number => 1 - 2 / (Math.exp(2 * x) + 1);

/** The cell's sizes. */
export interface LstmCellShape {
  /** B, examples. */
  readonly batch: number;
  /** C, units. */
  readonly units: number;
  /** Outputs are clipped to +-clip (Infinity: no clip). */
  readonly clip: number;
}

/** The arrays of one forward step of the cell. */
export interface LstmCellForwardArrays {
  /** Pre-activations [B, 4C] (row b at `z.offset + b 4C`); read. */
  readonly z: { readonly values: Float32Array; readonly offset: number };
  /** Added to `z` when given (a recurrent product computed apart), [B, 4C]; read. */
  readonly recurrent: Float32Array | null;
  /** c_{t-1}, [B, C]; read. */
  readonly prevCell: Float32Array;
  /** s(i), s(f), tanh(g), s(o), [B, 4C]; written. */
  readonly gates: Float32Array;
  /** c_t and tanh(c_t), [B, C]; written. */
  readonly cell: Float32Array;
  readonly tanhCell: Float32Array;
  /** h_t, written to the first C values of each row. */
  readonly hidden: Rows;
  /** clip(h_t), [B, C]; written. */
  readonly clipped: Float32Array;
}

/**
 * One forward step of the cell (see the file's comment for the formula): in WebAssembly SIMD
 * where available and C is even (`simd-lstm-cell.ts`, bit for bit the plain-JS
 * {@link lstmCellForwardJs}), else in JS.
 */
export function lstmCellForward(shape: LstmCellShape, a: LstmCellForwardArrays): void {
  const runtime = shape.units % 2 === 0 ? simdRuntime() : undefined;
  const kernels = runtime && lstmCellExports(runtime);
  if (!runtime || !kernels || !lstmCellForwardSimd(runtime, kernels.lstmCellForward, shape, a)) {
    lstmCellForwardJs(shape, a);
  }
}

/**
 * The forward step on `runtime`; false (its outputs then unspecified) when an argument of an
 * exponential was out of the kernel's range (see `SIMD_EXP_LIMIT`).
 */
function lstmCellForwardSimd(
  runtime: SimdRuntime,
  kernel: Kernel,
  shape: LstmCellShape,
  a: LstmCellForwardArrays,
): boolean {
  const { batch: B, units: C, clip } = shape;
  const G = 4 * C;
  const call = runtime.begin();
  const z = call.input(a.z.values.subarray(a.z.offset, a.z.offset + B * G), B * G);
  const recurrent = a.recurrent ? call.input(a.recurrent, B * G) : 0;
  const prevCell = call.input(a.prevCell, B * C);
  const gates = call.output(a.gates, B * G);
  const cell = call.output(a.cell, B * C);
  const tanhCell = call.output(a.tanhCell, B * C);
  const hidden = call.zeros(B * C);
  const clipped = call.output(a.clipped, B * C);
  const clipAt = call.zeros(4); // 16-byte aligned: room for a float64 and the flags
  const heap = runtime.heap; // after the last reservation: growing the memory replaces it
  new Float64Array(heap.buffer, clipAt, 1)[0] = clip;
  kernel(
    B,
    C,
    z,
    recurrent,
    a.recurrent ? 1 : 0,
    prevCell,
    gates,
    cell,
    tanhCell,
    hidden,
    clipped,
    clipAt,
    clipAt,
  );
  const flags = new Int32Array(heap.buffer, clipAt, 4);
  if ((flags[0]! & flags[1]! & flags[2]! & flags[3]!) !== -1) return false;
  call.read(gates, B * G, a.gates);
  call.read(cell, B * C, a.cell);
  call.read(tanhCell, B * C, a.tanhCell);
  copyRows(B, C, rowView(heap, hidden / 4, C), a.hidden);
  call.read(clipped, B * C, a.clipped);
  return true;
}

/** One forward step of the cell in plain JS: the reference of {@link lstmCellForward}. */
export function lstmCellForwardJs(shape: LstmCellShape, a: LstmCellForwardArrays): void {
  const { batch, units: C, clip } = shape;
  const { prevCell, gates, cell, tanhCell, clipped, recurrent } = a;
  const { values: z, offset: zo } = a.z;
  const { values: hidden, offset: ho, stride: hs } = a.hidden;
  const G = 4 * C;
  for (let b = 0; b < batch; b++) {
    const zr = zo + b * G;
    const r = b * G;
    for (let u = 0; u < C; u++) {
      let zi = z[zr + u] as number;
      let zf = z[zr + C + u] as number;
      let zg = z[zr + 2 * C + u] as number;
      let zo4 = z[zr + 3 * C + u] as number;
      if (recurrent !== null) {
        zi += recurrent[r + u] as number;
        zf += recurrent[r + C + u] as number;
        zg += recurrent[r + 2 * C + u] as number;
        zo4 += recurrent[r + 3 * C + u] as number;
      }
      const i = sigmoid(zi);
      const f = sigmoid(zf);
      const g = tanh(zg);
      const o = sigmoid(zo4);
      gates[r + u] = i;
      gates[r + C + u] = f;
      gates[r + 2 * C + u] = g;
      gates[r + 3 * C + u] = o;
      const at = b * C + u;
      const c = f * (prevCell[at] as number) + i * g;
      cell[at] = c;
      const tc = tanh(c);
      tanhCell[at] = tc;
      const h = o * tc;
      hidden[ho + b * hs + u] = h;
      clipped[at] = Math.min(clip, Math.max(-clip, h));
    }
  }
}

/** The arrays of one backward step of the cell. */
export interface LstmCellBackwardArrays {
  /** What the forward step wrote (`hidden` the same rows), and c_{t-1}; read. */
  readonly gates: Float32Array;
  readonly prevCell: Float32Array;
  readonly tanhCell: Float32Array;
  readonly hidden: Rows;
  /** dL/dclip(h_t), [B, C]; read. */
  readonly dClipped: Float32Array;
  /** More of dL/dclip(h_t) (an output's gradient), added to `dClipped` when given; read. */
  readonly dOutput: Rows | null;
  /** dL/dh_t from later steps (unclipped: the recurrent path), rows like `hidden`, or null. */
  readonly dHidden: Rows | null;
  /** dL/dc_t, [B, C]; read. */
  readonly dCell: Float32Array;
  /** dL/dz_t, [B, 4C]; written. */
  readonly dz: Float32Array;
  /** dL/dc_{t-1}, [B, C]; written (may be `dCell`). */
  readonly dPrevCell: Float32Array;
}

/**
 * Gradients of {@link lstmCellForward}: from dL/dclip(h_t), dL/dh_t and dL/dc_t to dL/dz_t and
 * dL/dc_{t-1}. The clip passes the gradient where |h| <= clip (TF.js's clipByValue gradient).
 * In WebAssembly SIMD where available and C is even (`simd-lstm-cell.ts`, bit for bit
 * {@link lstmCellBackwardJs}), else in JS.
 */
export function lstmCellBackward(shape: LstmCellShape, a: LstmCellBackwardArrays): void {
  const runtime = shape.units % 2 === 0 ? simdRuntime() : undefined;
  const kernels = runtime && lstmCellExports(runtime);
  if (runtime && kernels) lstmCellBackwardSimd(runtime, kernels.lstmCellBackward, shape, a);
  else lstmCellBackwardJs(shape, a);
}

/**
 * `rows` (B rows of C floats, `rows.stride` apart) for a kernel call: where they are, when
 * they live in the runtime's memory, else copied in with the same stride. Their byte address.
 */
function inputRows(call: SimdRuntime, rows: Rows, batch: number, units: number): number {
  const span = (batch - 1) * rows.stride + units;
  return call.input(rows.values.subarray(rows.offset, rows.offset + span), span);
}

function lstmCellBackwardSimd(
  runtime: SimdRuntime,
  kernel: Kernel,
  shape: LstmCellShape,
  a: LstmCellBackwardArrays,
): void {
  const { batch: B, units: C, clip } = shape;
  const G = 4 * C;
  const call = runtime.begin();
  const gates = call.input(a.gates, B * G);
  const prevCell = call.input(a.prevCell, B * C);
  const tanhCell = call.input(a.tanhCell, B * C);
  const hidden = inputRows(call, a.hidden, B, C);
  const dClipped = call.input(a.dClipped, B * C);
  const dOutput = a.dOutput ? inputRows(call, a.dOutput, B, C) : 0;
  const dHidden = a.dHidden ? inputRows(call, a.dHidden, B, C) : 0;
  const dCell = call.input(a.dCell, B * C);
  const dz = call.output(a.dz, B * G);
  // may be dCell's own place (dL/dc_{t-1} replacing dL/dc_t): the kernel reads before it writes
  const dPrevCell = call.output(a.dPrevCell, B * C);
  const clipAt = call.zeros(2); // 8-byte aligned (every reservation is 16-byte aligned)
  new Float64Array(runtime.heap.buffer, clipAt, 1)[0] = clip;
  kernel(
    B,
    C,
    gates,
    prevCell,
    tanhCell,
    hidden,
    a.hidden.stride,
    dClipped,
    dOutput,
    a.dOutput?.stride ?? 0,
    a.dOutput ? 1 : 0,
    dHidden,
    a.dHidden?.stride ?? 0,
    a.dHidden ? 1 : 0,
    dCell,
    dz,
    dPrevCell,
    clipAt,
  );
  call.read(dz, B * G, a.dz);
  call.read(dPrevCell, B * C, a.dPrevCell);
}

/** The backward step in plain JS: the reference of {@link lstmCellBackward}. */
export function lstmCellBackwardJs(shape: LstmCellShape, a: LstmCellBackwardArrays): void {
  const { batch, units: C, clip } = shape;
  const { gates, prevCell, tanhCell, dClipped, dOutput, dHidden, dCell, dz, dPrevCell } = a;
  const { values: hidden, offset: ho, stride: hs } = a.hidden;
  const G = 4 * C;
  for (let b = 0; b < batch; b++) {
    const r = b * G;
    const hRow = ho + b * hs;
    const oRow = dOutput === null ? 0 : dOutput.offset + b * dOutput.stride;
    const dhRow = dHidden === null ? 0 : dHidden.offset + b * dHidden.stride;
    for (let u = 0; u < C; u++) {
      const at = b * C + u;
      const h = hidden[hRow + u] as number;
      const dhc =
        (dClipped[at] as number) + (dOutput === null ? 0 : (dOutput.values[oRow + u] as number));
      const dh =
        (h >= -clip && h <= clip ? dhc : 0) +
        (dHidden === null ? 0 : (dHidden.values[dhRow + u] as number));
      const i = gates[r + u] as number;
      const f = gates[r + C + u] as number;
      const g = gates[r + 2 * C + u] as number;
      const o = gates[r + 3 * C + u] as number;
      const tc = tanhCell[at] as number;
      const dc = (dCell[at] as number) + dh * o * (1 - tc * tc);
      dz[r + u] = dc * g * i * (1 - i);
      dz[r + C + u] = dc * (prevCell[at] as number) * f * (1 - f);
      dz[r + 2 * C + u] = dc * i * (1 - g * g);
      dz[r + 3 * C + u] = dh * tc * o * (1 - o);
      dPrevCell[at] = dc * f;
    }
  }
}
