import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { oneplus, Rng, selectBackend, softplus, stopGradient } from '@mann/core';
import { gradientCheck, maxAbsDifference, onCpuAndWasm, tensorsLeaked } from '@mann/core/testing';
import { expectBitwiseEqual, expectClose, sigmoid, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const points = [-30, -5, -1, -0.1, 0, 0.1, 1, 5, 30];

describe('softplus', () => {
  it('is log(1 + e^x), without overflow or cancellation at the extremes', () => {
    const values = softplus(tf.tensor(points)).dataSync();
    const expected = points.map((x) => Math.log1p(Math.exp(x)));
    points.forEach((x, i) => {
      const v = values[i] as number;
      expect(Math.abs(v - expected[i]!), `x = ${x}`).toBeLessThanOrEqual(
        1e-6 * Math.max(1, Math.abs(expected[i]!)),
      );
    });
    expect(values[0]).toBeGreaterThan(0); // e^-30 does not round to 0 or below
    expect(softplus(tf.tensor([100, 1000])).dataSync()).toEqual(new Float32Array([100, 1000]));
    expect(softplus(tf.scalar(0)).dataSync()[0]).toBeCloseTo(Math.LN2, 6);
  });

  it('has gradient sigmoid(x)', () => {
    const x = tf.tensor(points);
    const g = tf.grad((v: tf.Tensor) => tf.sum(softplus(v)))(x);
    expectClose(g.dataSync(), points.map(sigmoid), 1e-6);
  });
});

describe('oneplus', () => {
  it('is 1 + softplus(x) and never below 1', () => {
    const x = tf.tensor([...points, -100, -1e4]);
    const values = oneplus(x).dataSync();
    expectClose(
      values,
      [...points, -100, -1e4].map((v) => 1 + Math.log1p(Math.exp(v))),
      1e-6 * 31,
    );
    for (const v of values) expect(v).toBeGreaterThanOrEqual(1);
    expect(oneplus(tf.scalar(0)).dataSync()[0]).toBeCloseTo(1 + Math.LN2, 6);
  });

  it('passes a finite-difference gradient check', () => {
    const rng = new Rng(1);
    const x = tf.tensor(uniformArray(rng, 24, -4, 4), [4, 6]);
    const weights = tf.tensor(uniformArray(rng, 24, -1, 1), [4, 6]);
    const result = gradientCheck((v) => tf.sum(tf.mul(oneplus(v!), weights)), [x]);
    expect(result.ok, JSON.stringify(result.worst)).toBe(true);
    expect(result.checked).toBe(24);
  });

  it('leaves only its output allocated', async () => {
    const x = tf.tensor([1, 2, 3]);
    expect(await tensorsLeaked(() => oneplus(x).dispose())).toBe(0);
  });
});

describe('stopGradient', () => {
  it('is the identity in the forward pass', () => {
    const values = uniformArray(new Rng(2), 12, -10, 10);
    const x = tf.tensor(values, [3, 4]);
    const y = stopGradient(x);
    expect(y.shape).toEqual([3, 4]);
    expectBitwiseEqual(y.dataSync(), values);
    // a new tensor: disposing it leaves the input usable
    y.dispose();
    expect(x.isDisposed).toBe(false);
    expectBitwiseEqual(x.dataSync(), values);
  });

  it('has a gradient of exactly zero, while other paths still carry gradient', () => {
    const values = uniformArray(new Rng(3), 6, -2, 2);
    const x = tf.tensor(values);
    const blocked = tf.grad((v: tf.Tensor) => tf.sum(tf.square(stopGradient(v))))(x);
    expect(Array.from(blocked.dataSync())).toEqual(new Array(6).fill(0));
    // d/dx sum(sg(x) * x) = sg(x) = x: only the second factor contributes
    const partial = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(stopGradient(v), v)))(x);
    expectBitwiseEqual(partial.dataSync(), values);
  });

  it('gives the same values on cpu and wasm (softplus, oneplus, stopGradient)', async () => {
    const values = uniformArray(new Rng(4), 32, -20, 20);
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const x = tf.tensor(values);
      return [
        softplus(x),
        oneplus(x),
        stopGradient(x),
        tf.grad((v: tf.Tensor) => tf.sum(tf.mul(oneplus(v), v)))(x),
      ];
    });
    cpu.forEach((reference, i) => {
      expect(maxAbsDifference(reference, wasm[i]!), `output ${i}`).toBeLessThan(1e-5);
    });
  });
});
