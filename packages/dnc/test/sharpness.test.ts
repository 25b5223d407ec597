import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import { SHARPNESS_EPSILON, sharpenLinkWeights } from '@mann/dnc';
import {
  expectClose,
  expectGradientsOnBothBackends,
  nest,
  onBothBackends,
  rngFor,
  uniform,
  weightings,
} from './helpers.js';
import { sharpenOracle, type Matrix } from './oracles.js';

beforeAll(async () => {
  await selectBackend();
});

describe('sharpenLinkWeights (DNC-MD)', () => {
  it('matches a hand-computed case', async () => {
    const [out] = await onBothBackends(() =>
      sharpenLinkWeights(tf.tensor4d([[[[0.6, 0.2, 0]]]]), tf.tensor2d([[2]])),
    );
    const e = SHARPNESS_EPSILON;
    const p = [0.6 + e, 0.2 + e, e].map((x) => (x / (0.6 + e)) ** 2);
    const sum = p.reduce((a, b) => a + b, 0);
    expectClose(
      out as Float32Array,
      p.map((x) => x / sum),
      1e-6,
    );
  });

  it('matches the loop oracle per read head, sums to 1, and is finite on all-zero weightings', async () => {
    const [B, R, Hw, N] = [2, 3, 2, 7];
    const rng = rngFor(51);
    const d = weightings(rng, B * R * Hw, N);
    d.fill(0, 0, N); // one all-zero row
    const s = uniform(rng, B * R, 1, 5);
    const [out] = await onBothBackends(() =>
      sharpenLinkWeights(tf.tensor4d(d, [B, R, Hw, N]), tf.tensor2d(s, [B, R])),
    );
    const rows = nest(d, [B * R * Hw, N]) as Matrix;
    const expected = rows.flatMap((row, i) => sharpenOracle(row, s[Math.floor(i / Hw)] as number));
    expectClose(out as Float32Array, expected, 1e-5);
    for (let i = 0; i < B * R * Hw; i++) {
      expect(
        (out as Float32Array).slice(i * N, (i + 1) * N).reduce((a, x) => a + x, 0),
      ).toBeCloseTo(1, 5);
    }
  });

  it('has finite-difference gradients for weights and sharpness', async () => {
    const [B, R, Hw, N] = [1, 2, 1, 5];
    const rng = rngFor(52);
    const d = weightings(rng, B * R * Hw, N, { minTotal: 0.5 });
    const s = uniform(rng, B * R, 1, 3);
    const scale = tf.tensor4d(uniform(rng, B * R * Hw * N, -1, 1), [B, R, Hw, N]);
    await expectGradientsOnBothBackends(
      (x, y) => tf.sum(tf.mul(sharpenLinkWeights(x as tf.Tensor4D, y as tf.Tensor2D), scale)),
      () => [tf.tensor4d(d, [B, R, Hw, N]), tf.tensor2d(s, [B, R])],
      { delta: 1e-3 },
    );
    scale.dispose();
  });
});
