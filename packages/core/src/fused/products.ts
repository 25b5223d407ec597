import * as tf from '@tensorflow/tfjs';
import { simdRuntime, type SimdRuntime } from './simd.js';
import { columnKernelExports, matMulExports } from './simd-kernels.js';

// The dense matrix products of the fused sequence: the LSTM's recurrent product and the
// interface layer every step, their transposes backward, and the weight gradients (sums over
// all steps) at the end. WebAssembly SIMD where available: on wasm, TF.js's matMul took
// ~28 ms for the recurrent weight gradient ([180, 656] x [656, 400]) that the SIMD kernel
// computes in ~4 ms, and a product per step also pays a tensor round trip. TF.js's matMul
// otherwise.

/** A matrix b [rows, cols] kept for repeated products. */
export interface Operand {
  readonly rows: number;
  readonly cols: number;
}

/** Dense products of Float32Arrays, row-major. */
export interface Products {
  /** Keeps b [k, n] for {@link Products.times} until {@link Products.release}. */
  keep(b: Float32Array, k: number, n: number): Operand;
  /**
   * a [m, k] times a kept b: [m, n], written into the first m n values of `into` when given
   * (returned as a view of exactly those), else into a new array; plus `bias` [n] added to
   * every row when given (float32 additions after the product, as a JS loop rounds them).
   */
  times(
    a: Float32Array,
    m: number,
    b: Operand,
    into?: Float32Array,
    bias?: Float32Array,
  ): Float32Array;
  /** a^T b for a [v, m] and b [v, n]: [m, n], a sum over the v rows (`into`: as for times). */
  transposedTimes(
    a: Float32Array,
    v: number,
    m: number,
    b: Float32Array,
    n: number,
    into?: Float32Array,
  ): Float32Array;
  /** Frees the kept operands. */
  release(): void;
}

const padded = (n: number): number => (n + 3) & ~3;

/** The first `size` values of `into`, or a new array of `size`. */
function outputArray(size: number, into: Float32Array | undefined): Float32Array {
  if (!into) return new Float32Array(size);
  if (into.length < size) {
    throw new Error(`product output has ${into.length} values, needs ${size}`);
  }
  return into.length === size ? into : into.subarray(0, size);
}

function simdProducts(
  runtime: SimdRuntime,
  { matMul }: NonNullable<ReturnType<typeof matMulExports>>,
  { addRows }: NonNullable<ReturnType<typeof columnKernelExports>>,
): Products {
  let mark = -1; // the runtime's pinned end before the first kept operand
  return {
    keep(b, k, n) {
      if (mark < 0) mark = runtime.mark();
      const stride = padded(n);
      const address = runtime.pin(b, k, n, stride);
      return { rows: k, cols: n, address, stride } as Operand;
    },
    times(a, m, b, into, bias) {
      const {
        rows: k,
        cols: n,
        address,
        stride,
      } = b as Operand & { address: number; stride: number };
      const call = runtime.begin();
      const left = call.input(a, m * k);
      const out = call.zeros(m * stride);
      matMul(m, stride, k, left, k, 1, address, out);
      if (bias) addRows(m, n, out, stride, call.input(bias, n));
      const result = outputArray(m * n, into);
      call.readPadded(out, m, n, stride, result);
      return result;
    },
    transposedTimes(a, v, m, b, n, into) {
      const stride = padded(n);
      const call = runtime.begin();
      const left = call.input(a, v * m);
      const right = call.inputPadded(b, v, n, stride);
      const out = call.zeros(m * stride);
      matMul(m, stride, v, left, 1, m, right, out); // a(i, j) = a[j m + i]
      const result = outputArray(m * n, into);
      call.readPadded(out, m, n, stride, result);
      return result;
    },
    release() {
      if (mark >= 0) runtime.unpinTo(mark);
      mark = -1;
    },
  };
}

/** Row-major [rows, cols] -> [cols, rows] (into `into` when given, as {@link Products.times}). */
export function transposed(
  values: Float32Array,
  rows: number,
  cols: number,
  into?: Float32Array,
): Float32Array {
  const out = outputArray(rows * cols, into);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  }
  return out;
}

/** [a, b, width] -> [b, a, width], row-major (batch-first to time-first and back). */
export function swapAxes(values: Float32Array, a: number, b: number, width: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      const from = (i * b + j) * width;
      out.set(values.subarray(from, from + width), (j * a + i) * width);
    }
  }
  return out;
}

/** `values` [rows, cols] plus `bias` [cols] on every row, in place. */
export function addBias(values: Float32Array, rows: number, bias: Float32Array): Float32Array {
  const cols = bias.length;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      values[r * cols + c] = (values[r * cols + c] as number) + (bias[c] as number);
  }
  return values;
}

/**
 * Sums over the rows of [rows, cols] (a bias gradient), accumulated in float64 row by row and
 * rounded to float32 once: in WebAssembly SIMD where available (float64 lanes, bit for bit
 * {@link columnSumsJs}), else in JS.
 */
export function columnSums(values: Float32Array, rows: number, cols: number): Float32Array {
  const runtime = simdRuntime();
  const kernels = runtime && columnKernelExports(runtime);
  if (!runtime || !kernels) return columnSumsJs(values, rows, cols);
  const call = runtime.begin();
  const at = call.input(values, rows * cols);
  // float64 sums of cols rounded up to even (the kernel adds two at a time); they also give
  // the kernel's read one float past the last row, for an odd cols, somewhere to land
  const sums = call.zeros(2 * (cols + (cols & 1)));
  kernels.columnSums(rows, cols, at, sums);
  const result = new Float32Array(cols);
  result.set(new Float64Array(runtime.heap.buffer, sums, cols));
  return result;
}

/** {@link columnSums} in plain JS: its reference and fallback. */
export function columnSumsJs(values: Float32Array, rows: number, cols: number): Float32Array {
  const sums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) sums[c] = (sums[c] as number) + (values[r * cols + c] as number);
  }
  return Float32Array.from(sums);
}

function tfProducts(): Products {
  const kept: tf.Tensor2D[] = [];
  const product = (left: tf.Tensor2D, right: tf.Tensor2D): Float32Array => {
    const result = tf.matMul(left, right);
    // not inside a tidy: tidy walks its result key by key, a typed array included
    const values = result.dataSync() as Float32Array;
    result.dispose();
    return values;
  };
  return {
    keep(b, k, n) {
      const tensor = tf.tensor2d(b, [k, n]);
      kept.push(tensor);
      return { rows: k, cols: n, tensor } as Operand;
    },
    times(a, m, b, into, bias) {
      const { rows: k, cols: n, tensor } = b as Operand & { tensor: tf.Tensor2D };
      const left = tf.tensor2d(a, [m, k]);
      const values = product(left, tensor);
      left.dispose();
      const result = into ? outputArray(m * n, into) : values;
      if (into) result.set(values);
      return bias ? addBias(result, m, bias) : result;
    },
    transposedTimes(a, v, m, b, n, into) {
      const left = tf.tensor2d(transposed(a, v, m), [m, v]);
      const right = tf.tensor2d(b, [v, n]);
      const values = product(left, right);
      left.dispose();
      right.dispose();
      if (!into) return values;
      const result = outputArray(m * n, into);
      result.set(values);
      return result;
    },
    release() {
      for (const t of kept.splice(0)) t.dispose();
    },
  };
}

let shared: Products | undefined;

/**
 * SIMD products where available (one object, reused: new closures per call would make V8
 * re-optimise its callers), else TF.js's matMul. Release before the next use.
 */
export function createProducts(): Products {
  const runtime = simdRuntime();
  const kernels = runtime && matMulExports(runtime);
  const columns = runtime && columnKernelExports(runtime);
  if (!runtime || !kernels || !columns) return tfProducts();
  shared ??= simdProducts(runtime, kernels, columns);
  return shared;
}
