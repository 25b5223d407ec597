import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipByGlobalNorm, clipByValue, MannError, Rng, selectBackend } from '@mann/core';
import { tensorsLeaked } from '@mann/core/testing';
import { expectBitwiseEqual, expectClose, uniformArray } from './helpers.js';
import { clipFlatGradients, globalNorm, type NamedTensors } from '../src/math/clip.js';

beforeAll(async () => {
  await selectBackend();
});

// ||g|| = sqrt(3^2 + 4^2 + 12^2) = 13
const gradients = () => ({ a: tf.tensor1d([3, -4]), b: tf.tensor2d([[12]]) });

describe('clipByGlobalNorm', () => {
  it('returns the norm before clipping and scales every tensor by maxNorm / norm', () => {
    const { gradients: clipped, globalNorm } = clipByGlobalNorm(gradients(), 6.5);
    expect(globalNorm.dataSync()[0]).toBeCloseTo(13, 5);
    expect(Object.keys(clipped)).toEqual(['a', 'b']);
    expect(clipped.b!.shape).toEqual([1, 1]);
    expectClose(clipped.a!.dataSync(), [1.5, -2], 1e-6);
    expectClose(clipped.b!.dataSync(), [6], 1e-6);
  });

  it('leaves gradients unchanged when the norm is at or under the maximum', () => {
    for (const maxNorm of [13, 20, 1e6]) {
      const { gradients: clipped, globalNorm } = clipByGlobalNorm(gradients(), maxNorm);
      expect(globalNorm.dataSync()[0]).toBeCloseTo(13, 5);
      expectBitwiseEqual(clipped.a!.dataSync(), [3, -4]);
      expectBitwiseEqual(clipped.b!.dataSync(), [12]);
    }
  });

  it('only measures the norm when maxNorm is Infinity', () => {
    const { gradients: clipped, globalNorm } = clipByGlobalNorm(gradients(), Infinity);
    expect(globalNorm.dataSync()[0]).toBeCloseTo(13, 5);
    expectBitwiseEqual(clipped.a!.dataSync(), [3, -4]);
  });

  it('matches a loop over many tensors', () => {
    const rng = new Rng(1);
    const arrays = [uniformArray(rng, 7, -3, 3), uniformArray(rng, 12, -3, 3)];
    const norm = Math.sqrt(arrays.flatMap((a) => Array.from(a)).reduce((s, x) => s + x * x, 0));
    const { gradients: clipped, globalNorm } = clipByGlobalNorm(
      { x: tf.tensor(arrays[0]!), y: tf.tensor(arrays[1]!, [3, 4]) },
      norm / 4,
    );
    expect(globalNorm.dataSync()[0]).toBeCloseTo(norm, 4);
    expectClose(
      clipped.x!.dataSync(),
      Array.from(arrays[0]!, (v) => v / 4),
      1e-6,
    );
    expectClose(
      clipped.y!.dataSync(),
      Array.from(arrays[1]!, (v) => v / 4),
      1e-6,
    );
    const squares = Object.values(clipped).flatMap((t) => Array.from(t.dataSync()));
    expect(Math.sqrt(squares.reduce((s, x) => s + x * x, 0))).toBeCloseTo(norm / 4, 4);
  });

  it('gives norm 0 for no gradients, and propagates a NaN norm', () => {
    expect(clipByGlobalNorm({}, 1).globalNorm.dataSync()[0]).toBe(0);
    const { globalNorm } = clipByGlobalNorm({ a: tf.tensor1d([1, Number.NaN]) }, 1);
    expect(globalNorm.dataSync()[0]).toBeNaN();
  });

  it('returns new tensors, leaves the inputs alone and leaks nothing', async () => {
    const input = gradients();
    let result: ReturnType<typeof clipByGlobalNorm> | undefined;
    expect(await tensorsLeaked(() => (result = clipByGlobalNorm(input, 1)))).toBe(3);
    expect(input.a.isDisposed).toBe(false);
    expectBitwiseEqual(input.a.dataSync(), [3, -4]);
    expect(result!.gradients.a).not.toBe(input.a);
  });

  it('rejects a maxNorm that is not positive, naming it and the value', () => {
    for (const bad of [0, -1, Number.NaN, -Infinity]) {
      expect(() => clipByGlobalNorm(gradients(), bad)).toThrow(MannError);
      expect(() => clipByGlobalNorm(gradients(), bad)).toThrow(
        new RegExp(`^maxNorm must be a finite number in .*, got ${bad}$`),
      );
    }
  });
});

describe('clipByValue', () => {
  it('clips each element to [-limit, limit]', () => {
    const clipped = clipByValue(
      { a: tf.tensor1d([-20, -10, -5, 0, 5, 10, 20]), b: tf.tensor1d([0.5]) },
      10,
    );
    expectBitwiseEqual(clipped.a!.dataSync(), [-10, -10, -5, 0, 5, 10, 10]);
    expectBitwiseEqual(clipped.b!.dataSync(), [0.5]);
  });

  it('rejects a limit that is not positive, naming it', () => {
    expect(() => clipByValue({}, 0)).toThrow(MannError);
    expect(() => clipByValue({}, -3)).toThrow(/^limit must be a finite number in .*, got -3$/);
  });
});

describe('clipFlatGradients (the threaded trainer clips its flat gradient sum in place)', () => {
  const rng = new Rng(3);
  const values = () => Float32Array.from({ length: 50 }, () => 3 * rng.normal());
  const named = (flat: Float32Array): NamedTensors => ({
    a: tf.tensor(flat.slice(0, 20), [4, 5]),
    b: tf.tensor(flat.slice(20), [30]),
  });
  const flatten = (t: NamedTensors): number[] => [
    ...(t.a as tf.Tensor).dataSync(),
    ...(t.b as tf.Tensor).dataSync(),
  ];

  for (const [clipValue, clipNorm] of [
    [0, 5],
    [0, 1e6],
    [1, 0],
    [1, 3],
    [0, 0],
  ] as const) {
    it(`agrees with clipByValue then clipByGlobalNorm (value ${clipValue}, norm ${clipNorm})`, () => {
      const flat = values();
      const tensors = named(flat);
      const expectedNorm = globalNorm(tensors).dataSync()[0] as number;
      let expected = clipValue > 0 ? clipByValue(tensors, clipValue) : tensors;
      if (clipNorm > 0) expected = clipByGlobalNorm(expected, clipNorm).gradients;
      const norm = clipFlatGradients(flat, clipValue, clipNorm);
      expect(norm).toBeCloseTo(expectedNorm, 4);
      expectClose(Array.from(flat), flatten(expected), 1e-5, 'clipped');
      if (clipValue > 0) expect(Math.max(...flat.map(Math.abs))).toBeLessThanOrEqual(clipValue);
    });
  }

  it('reports the norm before clipping, and keeps a NaN (the step is then skipped)', () => {
    const flat = Float32Array.of(3, 4);
    expect(clipFlatGradients(flat, 0, 1)).toBe(5);
    expectClose(Array.from(flat), [0.6, 0.8], 1e-7, 'scaled to norm 1');
    const bad = Float32Array.of(NaN, 1);
    expect(clipFlatGradients(bad, 0.5, 1)).toBeNaN();
    expect(bad[0]).toBeNaN();
  });

  it('takes the sum of squares from the caller, and clips as if it had summed them', () => {
    for (const [clipValue, clipNorm] of [
      [0, 5],
      [1, 3],
    ] as const) {
      const flat = values();
      const given = flat.slice();
      let squares = 0;
      for (const value of flat) squares += value * value;
      const norm = clipFlatGradients(flat, clipValue, clipNorm);
      // the given sum is used (a wrong one shows in the norm and the scale), not summed again
      expect(clipFlatGradients(given, clipValue, clipNorm, squares)).toBe(norm);
      expectBitwiseEqual(given, flat, `clipped (value ${clipValue}, norm ${clipNorm})`);
      expect(clipFlatGradients(values(), 0, 0, 16)).toBe(4);
    }
  });
});
