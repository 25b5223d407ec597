/**
 * Slow, loop-based reference implementations of the NTM equations (Graves et al. 2014) in
 * float64 over nested arrays, written straight from the paper's formulas and independent of
 * the tensor code under test.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@mann/core';

export type Matrix = number[][];
/** [B][H][N] and friends. */
export type Cube = number[][][];

const EPS = 1e-6;

/** Nested arrays of a tensor. */
export function toArray<T>(x: tf.Tensor): T {
  return x.arraySync() as T;
}

/** A float32 tensor of random values in [low, high). */
export function randomTensor<T extends tf.Tensor>(
  rng: Rng,
  shape: number[],
  low = -1,
  high = 1,
): T {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    rng.fill(size, (r) => r.uniformIn(low, high)),
    shape,
  ) as T;
}

/** Random distributions over the last axis, [..., n], each entry >= floor before normalising. */
export function randomDistribution<T extends tf.Tensor>(rng: Rng, shape: number[], floor = 0): T {
  const n = shape[shape.length - 1] as number;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const values = rng.fill(rows * n, (r) => floor + r.uniform());
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += values[r * n + i] as number;
    for (let i = 0; i < n; i++) values[r * n + i] = (values[r * n + i] as number) / total;
  }
  return tf.tensor(values, shape) as T;
}

/** eq. 5-6: softmax_i(beta cos(k, M[i])), cos with the SPEC's epsilons. */
export function contentOracle(memory: Cube, keys: Cube, beta: Matrix): Cube {
  const norm = (v: number[]): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0) + EPS);
  return keys.map((headKeys, b) =>
    headKeys.map((k, h) => {
      const rows = memory[b] as Matrix;
      const scores = rows.map((row) => {
        const dot = row.reduce((a, x, w) => a + x * (k[w] as number), 0);
        return ((beta[b] as number[])[h] as number) * (dot / (norm(k) * norm(row) + EPS));
      });
      return softmax(scores);
    }),
  );
}

function softmax(x: number[]): number[] {
  const max = Math.max(...x);
  const e = x.map((v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** eq. 7: g w_c + (1 - g) w_{t-1}. */
export function interpolateOracle(content: Cube, previous: Cube, gate: Matrix): Cube {
  return content.map((heads, b) =>
    heads.map((wc, h) => {
      const g = (gate[b] as number[])[h] as number;
      return wc.map(
        (c, i) => g * c + (1 - g) * (((previous[b] as Matrix)[h] as number[])[i] as number),
      );
    }),
  );
}

/**
 * eq. 8, literally: w_s[i] = sum_j w_g[j] s[(i - j) mod N], where the shift weighting over
 * offsets -k..k is read as a length-N circular vector (offset d at index d mod N).
 */
export function shiftOracle(weights: Cube, shifts: Cube): Cube {
  return weights.map((heads, b) =>
    heads.map((w, h) => {
      const s = (shifts[b] as Matrix)[h] as number[];
      const n = w.length;
      const k = (s.length - 1) / 2;
      const circular = new Array<number>(n).fill(0);
      s.forEach((value, index) => {
        const d = index - k;
        circular[((d % n) + n) % n] = (circular[((d % n) + n) % n] as number) + value;
      });
      return w.map((_, i) => {
        let total = 0;
        for (let j = 0; j < n; j++)
          total += (w[j] as number) * (circular[(((i - j) % n) + n) % n] as number);
        return total;
      });
    }),
  );
}

/** eq. 9 with the epsilon of the implementation: (w + eps)^gamma / sum. */
export function sharpenOracle(weights: Cube, gamma: Matrix): Cube {
  return weights.map((heads, b) =>
    heads.map((w, h) => {
      const p = w.map((x) => Math.pow(x + EPS, (gamma[b] as number[])[h] as number));
      const total = p.reduce((a, x) => a + x, 0);
      return p.map((x) => x / total);
    }),
  );
}

/** eq. 2: r_h = sum_i w_h[i] M[i]. */
export function readOracle(memory: Cube, weights: Cube): Cube {
  return weights.map((heads, b) =>
    heads.map((w) => {
      const rows = memory[b] as Matrix;
      return (rows[0] as number[]).map((_, c) =>
        w.reduce((a, wi, i) => a + wi * ((rows[i] as number[])[c] as number), 0),
      );
    }),
  );
}

/** eqs. 3-4 with several heads: every head's erase, then every head's add. */
export function writeOracle(memory: Cube, weights: Cube, erase: Cube, add: Cube): Cube {
  return memory.map((rows, b) =>
    rows.map((row, i) =>
      row.map((value, c) => {
        let kept = value;
        const heads = weights[b] as Matrix;
        heads.forEach((w, h) => {
          kept *= 1 - (w[i] as number) * (((erase[b] as Matrix)[h] as number[])[c] as number);
        });
        heads.forEach((w, h) => {
          kept += (w[i] as number) * (((add[b] as Matrix)[h] as number[])[c] as number);
        });
        return kept;
      }),
    ),
  );
}

/** Largest |a - b| over two nested arrays of the same shape. */
export function maxDifference(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return Infinity;
    return a.reduce((worst: number, x, i) => Math.max(worst, maxDifference(x, b[i])), 0);
  }
  return Infinity;
}

/** Sums of each row over the last axis. */
export function rowSums(x: tf.Tensor): number[] {
  return Array.from(tf.tidy(() => tf.sum(x, -1)).dataSync());
}
