import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import { ALLOCATION_EPSILON, allocationWeighting, writeAllocationWeightings } from '@mann/dnc';
import {
  expectClose,
  expectGradientsOnBothBackends,
  nest,
  onBothBackends,
  rngFor,
  separatedValues,
  uniform,
} from './helpers.js';
import { allocationOracle, writeAllocationsOracle, type Matrix } from './oracles.js';

beforeAll(async () => {
  await selectBackend();
});

const EPS = ALLOCATION_EPSILON;

describe('allocationWeighting', () => {
  it('matches a hand-computed case', async () => {
    // sorted: slot 1 (0.1), slot 0 (0.4), slot 2 (0.9), with u' = eps + (1 - eps) u
    const s = [0.4, 0.1, 0.9].map((u) => EPS + (1 - EPS) * u) as [number, number, number];
    const expected = [(1 - s[0]) * s[1], 1 - s[1], (1 - s[2]) * s[1] * s[0]];
    for (const permutation of ['matmul', 'gather'] as const) {
      const [out] = await onBothBackends(() =>
        allocationWeighting(tf.tensor2d([[0.4, 0.1, 0.9]]), { permutation }),
      );
      expectClose(out as Float32Array, expected, 1e-7, permutation);
    }
  });

  it('allocates slot 0 first when usage is all zero (ties go to the lowest slot)', async () => {
    const [out] = await onBothBackends(() => allocationWeighting(tf.zeros([2, 5]) as tf.Tensor2D));
    expectClose((out as Float32Array).slice(0, 5), [1 - EPS, (1 - EPS) * EPS, 0, 0, 0], 1e-7);
  });

  it('matches the loop oracle, sums to <= 1, and both permutations agree, on cpu and wasm', async () => {
    const rng = rngFor(21);
    const [B, N] = [4, 33];
    const usage = uniform(rng, B * N);
    usage[3] = usage[7] as number; // a tie
    usage[40] = 1; // a full slot
    const expected = (nest(usage, [B, N]) as Matrix).flatMap((u) => allocationOracle(u));
    const [matmul, gather] = await onBothBackends(() => [
      allocationWeighting(tf.tensor2d(usage, [B, N])),
      allocationWeighting(tf.tensor2d(usage, [B, N]), { permutation: 'gather' }),
    ]);
    expectClose(matmul as Float32Array, expected, 1e-6);
    expectClose(gather as Float32Array, matmul as Float32Array, 1e-7);
    for (let b = 0; b < B; b++) {
      const row = (matmul as Float32Array).slice(b * N, (b + 1) * N);
      expect(row.reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(1 + 1e-6);
      expect(Math.min(...row)).toBeGreaterThanOrEqual(0);
    }
  });

  it('has finite-difference gradients through the usage values (both permutations)', async () => {
    const [B, N] = [2, 6];
    const usage = Float32Array.from([
      ...separatedValues(rngFor(22), N),
      ...separatedValues(rngFor(23), N),
    ]);
    const weights = tf.tensor2d(uniform(rngFor(24), B * N, -1, 1), [B, N]);
    for (const permutation of ['matmul', 'gather'] as const) {
      await expectGradientsOnBothBackends(
        (u) => tf.sum(tf.mul(allocationWeighting(u as tf.Tensor2D, { permutation }), weights)),
        () => [tf.tensor2d(usage, [B, N])],
        { delta: 1e-3, atol: 1e-3 },
      );
    }
    weights.dispose();
  });

  it('gives finite gradients at all-zero usage', async () => {
    const [grad] = await onBothBackends(() =>
      tf.grad((u) =>
        tf.sum(tf.mul(allocationWeighting(u as tf.Tensor2D), tf.range(1, 9).reshape([1, 8]))),
      )(tf.zeros([1, 8])),
    );
    expect(Array.from(grad as Float32Array).every(Number.isFinite)).toBe(true);
  });
});

describe('writeAllocationWeightings', () => {
  it('allocates for each write head from the usage the previous heads left (deepmind/dnc)', async () => {
    const rng = rngFor(25);
    const [B, N, Hw] = [2, 6, 3];
    const usage = uniform(rng, B * N);
    const gates = uniform(rng, B * Hw);
    const [out] = await onBothBackends(() =>
      writeAllocationWeightings(tf.tensor2d(usage, [B, N]), tf.tensor2d(gates, [B, Hw])),
    );
    const expected = (nest(usage, [B, N]) as Matrix).flatMap((u, b) =>
      writeAllocationsOracle(u, Array.from(gates.slice(b * Hw, (b + 1) * Hw))).flat(),
    );
    expectClose(out as Float32Array, expected, 1e-6);
  });

  it('with fully open gates on an empty memory, three heads take three different slots', async () => {
    const [out] = await onBothBackends(() =>
      writeAllocationWeightings(tf.zeros([1, 4]) as tf.Tensor2D, tf.ones([1, 3]) as tf.Tensor2D),
    );
    const rows = nest(out as Float32Array, [3, 4]) as Matrix;
    const chosen = rows.map((row) => row.indexOf(Math.max(...row)));
    rows.forEach((row) => expect(Math.max(...row)).toBeGreaterThan(0.99));
    // Head 0 takes slot 0; its eps-sized spill-over decides which empty slot is least used next.
    expect(chosen[0]).toBe(0);
    expect(new Set(chosen).size).toBe(3);
    expectClose(out as Float32Array, writeAllocationsOracle([0, 0, 0, 0], [1, 1, 1]).flat(), 1e-6);
  });
});
