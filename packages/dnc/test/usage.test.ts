import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import { retentionVector, updateUsage } from '@mann/dnc';
import {
  expectClose,
  expectGradientsOnBothBackends,
  nest,
  onBothBackends,
  rngFor,
  uniform,
  weightings,
  type NestedArray,
} from './helpers.js';
import { retentionOracle, usageOracle, type Matrix, type Vector } from './oracles.js';

beforeAll(async () => {
  await selectBackend();
});

const [B, N, R, Hw] = [3, 7, 2, 2];

function randomInputs(seed: number): {
  u: Float32Array;
  ww: Float32Array;
  f: Float32Array;
  wr: Float32Array;
} {
  const rng = rngFor(seed);
  return {
    u: uniform(rng, B * N),
    ww: weightings(rng, B * Hw, N),
    f: uniform(rng, B * R),
    wr: weightings(rng, B * R, N),
  };
}

function tensors(
  x: ReturnType<typeof randomInputs>,
): [tf.Tensor2D, tf.Tensor3D, tf.Tensor2D, tf.Tensor3D] {
  return [
    tf.tensor2d(x.u, [B, N]),
    tf.tensor3d(x.ww, [B, Hw, N]),
    tf.tensor2d(x.f, [B, R]),
    tf.tensor3d(x.wr, [B, R, N]),
  ];
}

describe('updateUsage', () => {
  it('matches a hand-computed case', async () => {
    // psi = [1 - 0.5, 1, 1 - 0.25]; u + w - u w = [0.75, 0.5, 1]
    const [out] = await onBothBackends(() =>
      updateUsage(
        tf.tensor2d([[0.5, 0, 1]]),
        tf.tensor3d([[[0.5, 0.5, 0]]]),
        tf.tensor2d([[0.5]]),
        tf.tensor3d([[[1, 0, 0.5]]]),
      ),
    );
    expectClose(out as Float32Array, [0.375, 0.5, 0.75], 1e-7);
  });

  it('matches the loop oracle with several read and write heads, on cpu and wasm', async () => {
    const x = randomInputs(11);
    const [usage, psi] = await onBothBackends(() => {
      const [u, ww, f, wr] = tensors(x);
      return [updateUsage(u, ww, f, wr), retentionVector(f, wr)];
    });
    const [u, ww, f, wr] = [
      nest(x.u, [B, N]),
      nest(x.ww, [B, Hw, N]),
      nest(x.f, [B, R]),
      nest(x.wr, [B, R, N]),
    ];
    const expected = (u as Matrix).flatMap((ub, b) =>
      usageOracle(
        ub,
        (ww as NestedArray[])[b] as Matrix,
        (f as Matrix)[b] as Vector,
        (wr as NestedArray[])[b] as Matrix,
      ),
    );
    const expectedPsi = (f as Matrix).flatMap((fb, b) =>
      retentionOracle(fb, (wr as NestedArray[])[b] as Matrix),
    );
    expectClose(usage as Float32Array, expected, 1e-6);
    expectClose(psi as Float32Array, expectedPsi, 1e-6);
  });

  it('stays in [0, 1] over many steps', () => {
    const rng = rngFor(12);
    let u = tf.zeros([B, N]) as tf.Tensor2D;
    for (let t = 0; t < 30; t++) {
      const x = randomInputs(100 + t);
      const next = tf.tidy(() => {
        const [, ww, f, wr] = tensors(x);
        return updateUsage(u, tf.mul(ww, rng.uniformIn(0.5, 1)), f, wr);
      });
      u.dispose();
      u = next;
      const values = u.dataSync();
      expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...values)).toBeLessThanOrEqual(1);
    }
    u.dispose();
  });

  it('has no gradient through the previous write weights (deepmind/dnc stops it)', async () => {
    const x = randomInputs(13);
    const [grad] = await onBothBackends(() => {
      const [u, ww, f, wr] = tensors(x);
      return tf.grad((w) => tf.sum(tf.square(updateUsage(u, w as tf.Tensor3D, f, wr))))(ww);
    });
    expect(Array.from(grad as Float32Array).every((g) => g === 0)).toBe(true);
  });

  it('has finite-difference gradients for usage, free gates and read weights', async () => {
    const x = randomInputs(14);
    const scale = tf.tensor2d(uniform(rngFor(15), B * N, -1, 1), [B, N]);
    await expectGradientsOnBothBackends(
      (u, f, wr) =>
        tf.sum(
          tf.mul(
            updateUsage(
              u as tf.Tensor2D,
              tf.tensor3d(x.ww, [B, Hw, N]),
              f as tf.Tensor2D,
              wr as tf.Tensor3D,
            ),
            scale,
          ),
        ),
      () => {
        const [u, ww, f, wr] = tensors(x);
        ww.dispose();
        return [u, f, wr];
      },
    );
    scale.dispose();
  });
});
