import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MannError, Rng, selectBackend } from '@mann/core';
import { gradientCheck } from '@mann/core/testing';
import { interpolate, sharpen, shiftWeights } from '@mann/ntm';
import {
  interpolateOracle,
  maxDifference,
  randomDistribution,
  randomTensor,
  rowSums,
  sharpenOracle,
  shiftOracle,
  toArray,
  type Cube,
  type Matrix,
} from './oracle.js';
import { describeCheck, weightedSum } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const t3 = (values: number[][][]): tf.Tensor3D => tf.tensor3d(values);
const t2 = (values: number[][]): tf.Tensor2D => tf.tensor2d(values);
const close = (actual: tf.Tensor, expected: unknown, tolerance = 1e-5): void => {
  expect(maxDifference(toArray(actual), expected)).toBeLessThan(tolerance);
};

describe('interpolate (eq. 7)', () => {
  it('mixes content and previous weightings by the gate: hand-computed', () => {
    tf.tidy(() => {
      const out = interpolate(
        t3([
          [
            [0.5, 0.5, 0],
            [1, 0, 0],
          ],
        ]),
        t3([
          [
            [0, 0, 1],
            [0, 1, 0],
          ],
        ]),
        t2([[0.25, 1]]),
      );
      close(out, [
        [
          [0.125, 0.125, 0.75],
          [1, 0, 0],
        ],
      ]);
    });
  });

  it('matches the loop oracle and keeps distributions', () => {
    tf.tidy(() => {
      const rng = new Rng(3);
      const content = randomDistribution<tf.Tensor3D>(rng, [2, 3, 7]);
      const previous = randomDistribution<tf.Tensor3D>(rng, [2, 3, 7]);
      const gate = randomTensor<tf.Tensor2D>(rng, [2, 3], 0, 1);
      const out = interpolate(content, previous, gate);
      expect(out.shape).toEqual([2, 3, 7]);
      close(
        out,
        interpolateOracle(toArray<Cube>(content), toArray<Cube>(previous), toArray<Matrix>(gate)),
      );
      for (const s of rowSums(out)) expect(s).toBeCloseTo(1, 5);
    });
  });

  it('has finite-difference gradients', () => {
    tf.tidy(() => {
      const rng = new Rng(4);
      const inputs = [
        randomDistribution(rng, [2, 2, 5]),
        randomDistribution(rng, [2, 2, 5]),
        randomTensor(rng, [2, 2], 0, 1),
      ];
      const result = gradientCheck(
        (c, p, g) => weightedSum(interpolate(c as tf.Tensor3D, p as tf.Tensor3D, g as tf.Tensor2D)),
        inputs,
      );
      expect(result.ok, describeCheck(result)).toBe(true);
    });
  });

  it('names the argument with a wrong shape', () => {
    tf.tidy(() => {
      expect(() => interpolate(tf.ones([1, 2, 3]), tf.ones([1, 2, 4]), tf.ones([1, 2]))).toThrow(
        /previous must have shape \[1, 2, 3\].*got \[1, 2, 4\]/,
      );
      expect(() => interpolate(tf.ones([1, 2, 3]), tf.ones([1, 2, 3]), tf.ones([1, 3]))).toThrow(
        /gate/,
      );
    });
  });
});

describe('shiftWeights (eq. 8)', () => {
  it('a shift of +1 moves weight from slot i to slot i + 1, circularly', () => {
    tf.tidy(() => {
      const w = t3([[[0.7, 0.2, 0, 0.1]]]);
      close(shiftWeights(w, t3([[[0, 0, 1]]])), [[[0.1, 0.7, 0.2, 0]]]);
      close(shiftWeights(w, t3([[[1, 0, 0]]])), [[[0.2, 0, 0.1, 0.7]]]);
      close(shiftWeights(w, t3([[[0, 1, 0]]])), [[[0.7, 0.2, 0, 0.1]]]);
    });
  });

  it('blurs by a mixed shift: hand-computed', () => {
    tf.tidy(() => {
      // one-hot at slot 0, s = (0.25 at -1, 0.5 at 0, 0.25 at +1)
      close(shiftWeights(t3([[[1, 0, 0, 0, 0]]]), t3([[[0.25, 0.5, 0.25]]])), [
        [[0.5, 0.25, 0, 0, 0.25]],
      ]);
      // k = 2: all weight on +2 moves slot 4 to slot 1 (4 + 2 mod 5)
      close(shiftWeights(t3([[[0, 0, 0, 0, 1]]]), t3([[[0, 0, 0, 0, 1]]])), [[[0, 1, 0, 0, 0]]]);
      // k = 0 is the identity
      close(shiftWeights(t3([[[0.3, 0.7]]]), t3([[[1]]])), [[[0.3, 0.7]]]);
    });
  });

  it("matches the loop oracle (the paper's circular convolution) and keeps distributions", () => {
    tf.tidy(() => {
      const rng = new Rng(5);
      for (const [slots, count] of [
        [9, 3],
        [6, 5],
        [5, 5],
        [3, 3],
      ] as const) {
        const w = randomDistribution<tf.Tensor3D>(rng, [2, 3, slots]);
        const s = randomDistribution<tf.Tensor3D>(rng, [2, 3, count]);
        const out = shiftWeights(w, s);
        expect(out.shape).toEqual([2, 3, slots]);
        close(out, shiftOracle(toArray<Cube>(w), toArray<Cube>(s)));
        for (const sum of rowSums(out)) expect(sum).toBeCloseTo(1, 5);
      }
    });
  });

  it('has finite-difference gradients', () => {
    tf.tidy(() => {
      const rng = new Rng(6);
      const result = gradientCheck(
        (w, s) => weightedSum(shiftWeights(w as tf.Tensor3D, s as tf.Tensor3D)),
        [randomDistribution(rng, [2, 2, 6]), randomDistribution(rng, [2, 2, 5])],
      );
      expect(result.ok, describeCheck(result)).toBe(true);
    });
  });

  it('rejects an even number of shifts and more shifts than slots', () => {
    tf.tidy(() => {
      expect(() => shiftWeights(tf.ones([1, 1, 4]), tf.ones([1, 1, 2]))).toThrow(
        /odd size S = 2k \+ 1.*got 2/,
      );
      expect(() => shiftWeights(tf.ones([1, 1, 4]), tf.ones([1, 1, 5]))).toThrow(MannError);
      expect(() => shiftWeights(tf.ones([1, 1, 4]), tf.ones([1, 1, 5]))).toThrow(/S = 5.*N = 4/);
      expect(() => shiftWeights(tf.ones([1, 1, 4]), tf.ones([1, 2, 3]))).toThrow(
        /shifts must have shape/,
      );
    });
  });
});

describe('sharpen (eq. 9)', () => {
  it('raises to gamma and renormalises: hand-computed', () => {
    tf.tidy(() => {
      // (0.5, 0.25, 0.25)^2 = (0.25, 0.0625, 0.0625) / 0.375
      close(sharpen(t3([[[0.5, 0.25, 0.25]]]), t2([[2]])), [[[2 / 3, 1 / 6, 1 / 6]]]);
      // gamma = 1 leaves a distribution unchanged
      close(sharpen(t3([[[0.1, 0.6, 0.3]]]), t2([[1]])), [[[0.1, 0.6, 0.3]]]);
    });
  });

  it('matches the loop oracle and gives distributions', () => {
    tf.tidy(() => {
      const rng = new Rng(7);
      const w = randomDistribution<tf.Tensor3D>(rng, [2, 3, 8]);
      const gamma = randomTensor<tf.Tensor2D>(rng, [2, 3], 1, 5);
      const out = sharpen(w, gamma);
      close(out, sharpenOracle(toArray<Cube>(w), toArray<Matrix>(gamma)));
      for (const s of rowSums(out)) expect(s).toBeCloseTo(1, 5);
    });
  });

  it('is finite, with finite gradients, when weights have zeros or gamma is large', () => {
    tf.tidy(() => {
      const w = t3([
        [
          [1, 0, 0, 0],
          [0.25, 0.25, 0.25, 0.25],
        ],
      ]);
      const gamma = t2([[3, 60]]);
      const out = sharpen(w, gamma);
      expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
      close(
        out,
        [
          [
            [1, 0, 0, 0],
            [0.25, 0.25, 0.25, 0.25],
          ],
        ],
        1e-5,
      );
      const grads = tf.grads((a, b) => weightedSum(sharpen(a as tf.Tensor3D, b as tf.Tensor2D)))([
        w,
        gamma,
      ]);
      for (const g of grads) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    });
  });

  it('has finite-difference gradients', () => {
    tf.tidy(() => {
      const rng = new Rng(8);
      const result = gradientCheck(
        (w, g) => weightedSum(sharpen(w as tf.Tensor3D, g as tf.Tensor2D)),
        [randomDistribution(rng, [2, 2, 5], 0.5), randomTensor(rng, [2, 2], 1, 3)],
        { delta: 1e-3 },
      );
      expect(result.ok, describeCheck(result)).toBe(true);
    });
  });
});
