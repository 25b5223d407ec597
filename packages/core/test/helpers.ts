// Shared fixtures of the core tests: seeded data, comparison helpers and plain-JS oracles.
// Nothing here uses TF.js to compute an expected value.
import { expect } from 'vitest';
import type { LstmLayer, Rng, SequenceBatch } from '@mann/core';

/** `n` uniform draws in [low, high) from `rng`. */
export function uniformArray(rng: Rng, n: number, low = -1, high = 1): Float32Array {
  return rng.fill(n, (r) => r.uniformIn(low, high));
}

/** Asserts |actual[i] - expected[i]| <= tolerance for every i, reporting the worst index. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  label = 'values',
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstError = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs((actual[i] as number) - (expected[i] as number));
    if (!(error <= worstError) || Number.isNaN(error)) {
      worst = i;
      worstError = Number.isNaN(error) ? Infinity : error;
    }
  }
  const detail =
    worst < 0 ? '' : ` (worst at ${worst}: ${actual[worst]} vs expected ${expected[worst]})`;
  expect(worstError, `${label}: max abs error${detail}`).toBeLessThanOrEqual(tolerance);
}

/** Asserts two arrays are identical bit for bit (same float32 values, NaN included). */
export function expectBitwiseEqual(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label = 'values',
): void {
  expect(Array.from(actual), label).toEqual(Array.from(expected));
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Binary cross-entropy in bits of probability `p` for target `y`, straight from the definition. */
export const bceBits = (p: number, y: number): number =>
  -(y * Math.log(p) + (1 - y) * Math.log(1 - p)) / Math.LN2;

/**
 * The copy task in miniature: L ~ U{1..maxLength} random `bits`-bit vectors, a delimiter on its
 * own channel, then L answer steps whose target is the sequence (mask 1 there only).
 * Input width bits + 1, output width bits, T = 2 maxLength + 1.
 */
export function copyBatch(rng: Rng, batchSize: number, bits = 4, maxLength = 5): SequenceBatch {
  const steps = 2 * maxLength + 1;
  const inputWidth = bits + 1;
  const inputs = new Float32Array(batchSize * steps * inputWidth);
  const targets = new Float32Array(batchSize * steps * bits);
  const mask = new Float32Array(batchSize * steps);
  for (let s = 0; s < batchSize; s++) {
    const length = rng.int(1, maxLength);
    for (let t = 0; t < length; t++) {
      for (let k = 0; k < bits; k++) {
        const bit = rng.bernoulli();
        inputs[(s * steps + t) * inputWidth + k] = bit;
        targets[(s * steps + length + 1 + t) * bits + k] = bit;
      }
      mask[s * steps + length + 1 + t] = 1;
    }
    inputs[(s * steps + length) * inputWidth + bits] = 1;
  }
  return { batchSize, steps, inputWidth, outputWidth: bits, inputs, targets, mask };
}

/** Plain arrays of one LSTM layer's parameters. */
export interface LstmWeights {
  readonly inputSize: number;
  readonly hidden: number;
  /** [inputSize, 4 hidden] */
  readonly wx: Float32Array;
  /** [hidden, 4 hidden] */
  readonly wh: Float32Array;
  /** [4 hidden] */
  readonly b: Float32Array;
}

export function lstmWeights(layer: LstmLayer): LstmWeights {
  return {
    inputSize: layer.inputSize,
    hidden: layer.hiddenSize,
    wx: layer.inputKernel.dataSync() as Float32Array,
    wh: layer.recurrentKernel.dataSync() as Float32Array,
    b: layer.bias.dataSync() as Float32Array,
  };
}

/**
 * One LSTM step written out from the equations, gates ordered [input, forget, cell, output]:
 * z = x Wx + h Wh + b; c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c'). Row-major [B, *] arrays.
 */
export function lstmStepOracle(
  w: LstmWeights,
  batch: number,
  x: ArrayLike<number>,
  h: ArrayLike<number>,
  c: ArrayLike<number>,
): { h: number[]; c: number[] } {
  const H = w.hidden;
  const outH: number[] = [];
  const outC: number[] = [];
  for (let b = 0; b < batch; b++) {
    const z: number[] = [];
    for (let j = 0; j < 4 * H; j++) {
      let sum = w.b[j] as number;
      for (let k = 0; k < w.inputSize; k++) {
        sum += (x[b * w.inputSize + k] as number) * (w.wx[k * 4 * H + j] as number);
      }
      for (let k = 0; k < H; k++) sum += (h[b * H + k] as number) * (w.wh[k * 4 * H + j] as number);
      z.push(sum);
    }
    for (let u = 0; u < H; u++) {
      const i = sigmoid(z[u] as number);
      const f = sigmoid(z[H + u] as number);
      const g = Math.tanh(z[2 * H + u] as number);
      const o = sigmoid(z[3 * H + u] as number);
      const cell = f * (c[b * H + u] as number) + i * g;
      outC.push(cell);
      outH.push(o * Math.tanh(cell));
    }
  }
  return { h: outH, c: outC };
}

/**
 * A stacked LSTM over a sequence from zero state: returns the top layer's h for every step,
 * [B, T, H_top] row-major. `inputs` is [B, T, I] row-major.
 */
export function stackedLstmOracle(
  layers: readonly LstmWeights[],
  inputs: ArrayLike<number>,
  batch: number,
  steps: number,
): number[] {
  const top = layers[layers.length - 1] as LstmWeights;
  const out = new Array<number>(batch * steps * top.hidden).fill(0);
  let states = layers.map((l) => ({
    h: new Array<number>(batch * l.hidden).fill(0),
    c: new Array<number>(batch * l.hidden).fill(0),
  }));
  const inputSize = (layers[0] as LstmWeights).inputSize;
  for (let t = 0; t < steps; t++) {
    let x: number[] = [];
    for (let b = 0; b < batch; b++) {
      for (let k = 0; k < inputSize; k++) x.push(inputs[(b * steps + t) * inputSize + k] as number);
    }
    states = layers.map((l, k) => {
      const s = states[k] as { h: number[]; c: number[] };
      const next = lstmStepOracle(l, batch, x, s.h, s.c);
      x = next.h;
      return next;
    });
    for (let b = 0; b < batch; b++) {
      for (let u = 0; u < top.hidden; u++) {
        out[(b * steps + t) * top.hidden + u] = x[b * top.hidden + u] as number;
      }
    }
  }
  return out;
}

/** y = x W + b for row-major x [rows, in], W [in, out], b [out]. */
export function linearOracle(
  x: ArrayLike<number>,
  rows: number,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  inputSize: number,
  outputSize: number,
): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < outputSize; j++) {
      let sum = b[j] as number;
      for (let k = 0; k < inputSize; k++) {
        sum += (x[r * inputSize + k] as number) * (w[k * outputSize + j] as number);
      }
      out.push(sum);
    }
  }
  return out;
}
