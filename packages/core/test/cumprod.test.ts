import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { exclusiveCumprod, Rng, selectBackend } from '@mann/core';
import { gradientCheck, maxAbsDifference, onCpuAndWasm } from '@mann/core/testing';
import { expectClose, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

/** y[j] = prod_{i<j} x[i] along the last axis of a row-major [rows, n] array. */
function cumprodOracle(x: ArrayLike<number>, n: number): number[] {
  const out: number[] = [];
  for (let start = 0; start < x.length; start += n) {
    let product = 1;
    for (let j = 0; j < n; j++) {
      out.push(product);
      product *= x[start + j] as number;
    }
  }
  return out;
}

describe('exclusiveCumprod', () => {
  it('matches a loop along the last axis, for rank 1 to 3 and any sign', () => {
    const rng = new Rng(1);
    const values = uniformArray(rng, 2 * 3 * 5, -1.5, 1.5);
    values[7] = 0; // a zero stops the product
    const y = exclusiveCumprod(tf.tensor3d(values, [2, 3, 5]));
    expect(y.shape).toEqual([2, 3, 5]);
    expectClose(y.dataSync(), cumprodOracle(values, 5), 1e-6);
    expectClose(exclusiveCumprod(tf.tensor1d([2, 3, 4, 5])).dataSync(), [1, 2, 6, 24], 0);
    expectClose(
      exclusiveCumprod(tf.tensor2d([0.5, 0.5, 0.5, 2, 3, 0], [2, 3])).dataSync(),
      [1, 0.5, 0.25, 1, 2, 6],
      0,
    );
  });

  it('has the hand-derived gradient on a tiny case', () => {
    // y = [1, a, a b], L = w0 + w1 a + w2 a b: dL/da = w1 + w2 b, dL/db = w2 a, dL/dc = 0.
    const [a, b, c] = [0.6, 0.3, 0.9];
    const [w0, w1, w2] = [0.7, -1.1, 2.5];
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(exclusiveCumprod(x), [w0, w1, w2])))(
      tf.tensor1d([a, b, c]),
    );
    expectClose(g.dataSync(), [w1 + w2 * b, w2 * a, 0], 1e-6);
  });

  it('passes a finite-difference gradient check for inputs in [0.1, 1]', () => {
    const rng = new Rng(2);
    const x = tf.tensor3d(uniformArray(rng, 2 * 3 * 6, 0.1, 1), [2, 3, 6]);
    const weights = tf.tensor3d(uniformArray(rng, 2 * 3 * 6, -1, 1), [2, 3, 6]);
    const result = gradientCheck((v) => tf.sum(tf.mul(exclusiveCumprod(v!), weights)), [x]);
    expect(result.ok, JSON.stringify(result.worst)).toBe(true);
    expect(result.checked).toBe(36);
  });

  it('gives the same values and gradients on cpu and wasm', async () => {
    const rng = new Rng(3);
    const values = uniformArray(rng, 4 * 8, 0.1, 1);
    const weights = uniformArray(rng, 4 * 8, -1, 1);
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const x = tf.tensor2d(values, [4, 8]);
      const w = tf.tensor2d(weights, [4, 8]);
      return [
        exclusiveCumprod(x),
        tf.grad((v: tf.Tensor) => tf.sum(tf.mul(exclusiveCumprod(v), w)))(x),
      ];
    });
    expectClose(cpu[0]!, cumprodOracle(values, 8), 1e-6, 'cpu vs loop');
    cpu.forEach((reference, i) => {
      expect(maxAbsDifference(reference, wasm[i]!), `output ${i}`).toBeLessThan(1e-5);
    });
  });
});
