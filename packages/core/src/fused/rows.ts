import { simdRuntime, type SimdRuntime } from './simd.js';
import { rowKernelExports, type RowKernelExports } from './simd-kernels.js';

// The O(N W) products of a step: a memory matrix M [n, w] (row-major) with a few vectors of
// width w (keys, read vectors' gradients) or coefficient rows of length n (weightings, the
// content addressing's gradients). Content addressing and the read vectors are made of these,
// forward and backward. Plain JS loops (the reference, and the fallback) and WebAssembly SIMD
// (w a multiple of 4) with the same contract.

/** Float arrays a kernel reads (float64 ones are JS-side accumulators). */
export type Values = Float32Array | Float64Array;

/** Row products of one memory matrix M [n, w]. */
export interface RowKernels {
  readonly kind: 'simd' | 'js';
  /**
   * The SIMD runtime the kernels run on (undefined for the JS ones): arrays that are views of
   * its memory are used in place, others are copied in and out per call.
   */
  readonly runtime?: SimdRuntime;
  /** out[j, i] = vecs[j] . M[i] for j < v: [v, n], written. */
  dots(n: number, w: number, m: Float32Array, vecs: Values, v: number, out: Float32Array): void;
  /** out[j, i] = vecs[j] . (M[i] * M[i]) for j < v, the square element-wise: [v, n], written. */
  squareDots(
    n: number,
    w: number,
    m: Float32Array,
    vecs: Values,
    v: number,
    out: Float32Array,
  ): void;
  /** out[i] = M[i] . M[i]: [n], written. */
  squares(n: number, w: number, m: Float32Array, out: Float32Array): void;
  /** out[j] += sum_i coeffs[j, i] M[i] for j < v: [v, w], added to. */
  mix(n: number, w: number, m: Float32Array, coeffs: Values, v: number, out: Values): void;
  /** out[j] += sum_i coeffs[j, i] (M[i] * M[i]) for j < v, squared element-wise: [v, w], added. */
  squareMix(n: number, w: number, m: Float32Array, coeffs: Values, v: number, out: Values): void;
  /** dM[i] += sum_j coeffs[j, i] vecs[j] (+ scale[i] M[i]): [n, w], added to. */
  update(
    n: number,
    w: number,
    dm: Float32Array,
    m: Float32Array,
    coeffs: Values,
    vecs: Values,
    v: number,
    scale: Values | null,
  ): void;
  /** dM[i] += M[i] * sum_j coeffs[j, i] vecs[j], the product element-wise: [n, w], added to. */
  productUpdate(
    n: number,
    w: number,
    dm: Float32Array,
    m: Float32Array,
    coeffs: Values,
    vecs: Values,
    v: number,
  ): void;
}

/** The row kernels in plain JS loops: the reference, and the fallback. */
export const jsRowKernels: RowKernels = {
  kind: 'js',
  dots(n, w, m, vecs, v, out) {
    for (let j = 0; j < v; j++) {
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (let c = 0; c < w; c++) sum += (vecs[j * w + c] as number) * (m[i * w + c] as number);
        out[j * n + i] = sum;
      }
    }
  },
  squareDots(n, w, m, vecs, v, out) {
    for (let j = 0; j < v; j++) {
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (let c = 0; c < w; c++) {
          const x = m[i * w + c] as number;
          sum += (vecs[j * w + c] as number) * x * x;
        }
        out[j * n + i] = sum;
      }
    }
  },
  squares(n, w, m, out) {
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let c = i * w; c < (i + 1) * w; c++) sum += (m[c] as number) * (m[c] as number);
      out[i] = sum;
    }
  },
  mix(n, w, m, coeffs, v, out) {
    for (let j = 0; j < v; j++) {
      for (let i = 0; i < n; i++) {
        const s = coeffs[j * n + i] as number;
        for (let c = 0; c < w; c++)
          out[j * w + c] = (out[j * w + c] as number) + s * (m[i * w + c] as number);
      }
    }
  },
  squareMix(n, w, m, coeffs, v, out) {
    for (let j = 0; j < v; j++) {
      for (let i = 0; i < n; i++) {
        const s = coeffs[j * n + i] as number;
        for (let c = 0; c < w; c++) {
          const x = m[i * w + c] as number;
          out[j * w + c] = (out[j * w + c] as number) + s * x * x;
        }
      }
    }
  },
  update(n, w, dm, m, coeffs, vecs, v, scale) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < v; j++) {
        const s = coeffs[j * n + i] as number;
        for (let c = 0; c < w; c++)
          dm[i * w + c] = (dm[i * w + c] as number) + s * (vecs[j * w + c] as number);
      }
      if (scale) {
        const s = scale[i] as number;
        for (let c = 0; c < w; c++)
          dm[i * w + c] = (dm[i * w + c] as number) + s * (m[i * w + c] as number);
      }
    }
  },
  productUpdate(n, w, dm, m, coeffs, vecs, v) {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < w; c++) {
        let sum = 0;
        for (let j = 0; j < v; j++)
          sum += (coeffs[j * n + i] as number) * (vecs[j * w + c] as number);
        dm[i * w + c] = (dm[i * w + c] as number) + sum * (m[i * w + c] as number);
      }
    }
  },
};

function simdRowKernelsOn(runtime: SimdRuntime): RowKernels {
  const kernelsFor = (w: number): RowKernelExports => {
    const kernels = rowKernelExports(runtime, w);
    if (!kernels)
      throw new Error(`SIMD row kernels need a width that is a multiple of 4, got ${w}`);
    return kernels;
  };
  const dotsWith =
    (name: 'rowDots' | 'rowSquareDots'): RowKernels['dots'] =>
    (n, w, m, vecs, v, out) => {
      const kernel = kernelsFor(w)[name];
      const call = runtime.begin();
      const at = { m: call.input(m, n * w), vecs: call.input(vecs, v * w), out: call.zeros(v * n) };
      kernel(n, w, at.m, at.vecs, v, at.out);
      call.read(at.out, v * n, out);
    };
  const mixWith =
    (name: 'rowMix' | 'rowSquareMix'): RowKernels['mix'] =>
    (n, w, m, coeffs, v, out) => {
      const kernel = kernelsFor(w)[name];
      const call = runtime.begin();
      const at = {
        m: call.input(m, n * w),
        coeffs: call.input(coeffs, v * n),
        out: call.zeros(v * w),
      };
      kernel(n, w, at.m, at.coeffs, v, at.out);
      call.add(at.out, v * w, out);
    };
  return {
    kind: 'simd',
    runtime,
    dots: dotsWith('rowDots'),
    squareDots: dotsWith('rowSquareDots'),
    squares(n, w, m, out) {
      const { rowSquares } = kernelsFor(w);
      const call = runtime.begin();
      const at = { m: call.input(m, n * w), out: call.zeros(n) };
      rowSquares(n, w, at.m, at.out);
      call.read(at.out, n, out);
    },
    mix: mixWith('rowMix'),
    squareMix: mixWith('rowSquareMix'),
    update(n, w, dm, m, coeffs, vecs, v, scale) {
      const { rowUpdate } = kernelsFor(w);
      const call = runtime.begin();
      const at = {
        dm: call.input(dm, n * w),
        m: call.input(m, n * w),
        coeffs: call.input(coeffs, v * n),
        vecs: call.input(vecs, v * w),
        scale: scale ? call.input(scale, n) : 0,
      };
      rowUpdate(n, w, at.dm, at.m, at.coeffs, at.vecs, v, at.scale, scale ? 1 : 0);
      call.read(at.dm, n * w, dm);
    },
    productUpdate(n, w, dm, m, coeffs, vecs, v) {
      const { rowProductUpdate } = kernelsFor(w);
      const call = runtime.begin();
      const at = {
        dm: call.input(dm, n * w),
        m: call.input(m, n * w),
        coeffs: call.input(coeffs, v * n),
        vecs: call.input(vecs, v * w),
      };
      rowProductUpdate(n, w, at.dm, at.m, at.coeffs, at.vecs, v);
      call.read(at.dm, n * w, dm);
    },
  };
}

/**
 * SIMD row kernels on `runtime` (for widths that are multiples of 4; each width's kernels are
 * built on first use); undefined where WebAssembly SIMD modules do not validate.
 */
export function rowKernelsOn(runtime: SimdRuntime): RowKernels | undefined {
  return rowKernelExports(runtime, 4) ? simdRowKernelsOn(runtime) : undefined;
}

let simd: RowKernels | undefined | null = null;

/**
 * The fastest row kernels for width w, on the shared runtime: SIMD when available and w is a
 * multiple of 4.
 */
export function rowKernelsFor(w: number): RowKernels {
  if (simd === null) {
    const runtime = simdRuntime();
    simd = runtime && rowKernelsOn(runtime);
  }
  return (w % 4 === 0 ? simd : undefined) ?? jsRowKernels;
}

/** A matrix of rows placed `stride` floats apart from `offset` in `values`. */
export interface Rows {
  readonly values: Float32Array;
  readonly offset: number;
  readonly stride: number;
}

/** The rows of `values` `stride` floats apart from `offset`. */
export const rowView = (values: Float32Array, offset: number, stride: number): Rows => ({
  values,
  offset,
  stride,
});

/**
 * Copies `rows` rows of `size` values from `from` to `to` (each a {@link Rows}): packing and
 * unpacking side-by-side blocks of row-major arrays.
 */
export function copyRows(rows: number, size: number, from: Rows, to: Rows): void {
  for (let r = 0; r < rows; r++) {
    const start = from.offset + r * from.stride;
    to.values.set(from.values.subarray(start, start + size), to.offset + r * to.stride);
  }
}
