import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, selectBackend } from '@mann/core';
import { gradientCheck } from '@mann/core/testing';
import { readMemory, writeMemory } from '@mann/ntm';
import {
  maxDifference,
  randomDistribution,
  randomTensor,
  readOracle,
  toArray,
  writeOracle,
  type Cube,
} from './oracle.js';
import { describeCheck, weightedSum } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const t3 = (values: number[][][]): tf.Tensor3D => tf.tensor3d(values);
const close = (actual: tf.Tensor, expected: unknown, tolerance = 1e-5): void => {
  expect(maxDifference(toArray(actual), expected)).toBeLessThan(tolerance);
};

describe('readMemory (eq. 2)', () => {
  it('takes the weighted sum of rows: hand-computed', () => {
    tf.tidy(() => {
      const memory = t3([
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      ]);
      close(
        readMemory(
          memory,
          t3([
            [
              [0, 0.5, 0.5],
              [1, 0, 0],
            ],
          ]),
        ),
        [
          [
            [4, 5],
            [1, 2],
          ],
        ],
      );
    });
  });

  it('matches the loop oracle', () => {
    tf.tidy(() => {
      const rng = new Rng(11);
      const memory = randomTensor<tf.Tensor3D>(rng, [2, 6, 4]);
      const weights = randomDistribution<tf.Tensor3D>(rng, [2, 3, 6]);
      const out = readMemory(memory, weights);
      expect(out.shape).toEqual([2, 3, 4]);
      close(out, readOracle(toArray<Cube>(memory), toArray<Cube>(weights)));
    });
  });

  it('has finite-difference gradients', () => {
    tf.tidy(() => {
      const rng = new Rng(12);
      const result = gradientCheck(
        (m, w) => weightedSum(readMemory(m as tf.Tensor3D, w as tf.Tensor3D)),
        [randomTensor(rng, [2, 5, 3]), randomDistribution(rng, [2, 2, 5])],
      );
      expect(result.ok, describeCheck(result)).toBe(true);
    });
  });

  it('names a mismatched argument', () => {
    tf.tidy(() => {
      expect(() => readMemory(tf.ones([1, 4, 2]), tf.ones([1, 1, 5]))).toThrow(
        /weights must have shape \[1, \*, 4\]/,
      );
      expect(() => readMemory(tf.ones([4, 2]) as never, tf.ones([1, 1, 4]))).toThrow(
        /memory must be rank 3/,
      );
    });
  });
});

describe('writeMemory (eqs. 3-4)', () => {
  it('erases then adds at the weighted slots: hand-computed', () => {
    tf.tidy(() => {
      const memory = t3([
        [
          [1, 1],
          [1, 1],
        ],
      ]);
      const out = writeMemory(memory, t3([[[1, 0]]]), t3([[[1, 0]]]), t3([[[2, 3]]]));
      close(out, [
        [
          [2, 4],
          [1, 1],
        ],
      ]);
      // a half weighting erases half and adds half
      const half = writeMemory(memory, t3([[[0.5, 0.5]]]), t3([[[1, 1]]]), t3([[[2, 0]]]));
      close(half, [
        [
          [1.5, 0.5],
          [1.5, 0.5],
        ],
      ]);
    });
  });

  it("applies all heads' erases before any head's adds", () => {
    tf.tidy(() => {
      const memory = t3([
        [
          [1, 1],
          [1, 1],
        ],
      ]);
      const weights = t3([
        [
          [1, 0],
          [1, 0],
        ],
      ]);
      const erase = t3([
        [
          [1, 1],
          [0.5, 0],
        ],
      ]);
      const add = t3([
        [
          [5, 5],
          [1, 2],
        ],
      ]);
      // erases: 1 * (1 - 1)(1 - 0.5) = 0 and 1 * (1 - 1)(1 - 0) = 0; adds 5 + 1, 5 + 2.
      // (Head by head, erase-add-erase-add, would give [3.5, 7] instead.)
      close(writeMemory(memory, weights, erase, add), [
        [
          [6, 7],
          [1, 1],
        ],
      ]);
    });
  });

  it('matches the loop oracle with several heads', () => {
    tf.tidy(() => {
      const rng = new Rng(13);
      const memory = randomTensor<tf.Tensor3D>(rng, [2, 5, 4]);
      const weights = randomDistribution<tf.Tensor3D>(rng, [2, 3, 5]);
      const erase = randomTensor<tf.Tensor3D>(rng, [2, 3, 4], 0, 1);
      const add = randomTensor<tf.Tensor3D>(rng, [2, 3, 4]);
      const out = writeMemory(memory, weights, erase, add);
      expect(out.shape).toEqual([2, 5, 4]);
      close(
        out,
        writeOracle(
          toArray<Cube>(memory),
          toArray<Cube>(weights),
          toArray<Cube>(erase),
          toArray<Cube>(add),
        ),
      );
    });
  });

  it('returns the memory unchanged with no write heads', () => {
    tf.tidy(() => {
      const memory = randomTensor<tf.Tensor3D>(new Rng(14), [2, 3, 4]);
      close(
        writeMemory(memory, tf.zeros([2, 0, 3]), tf.zeros([2, 0, 4]), tf.zeros([2, 0, 4])),
        toArray(memory),
      );
    });
  });

  it('has finite-difference gradients with two heads', () => {
    tf.tidy(() => {
      const rng = new Rng(15);
      const result = gradientCheck(
        (m, w, e, a) =>
          weightedSum(
            writeMemory(m as tf.Tensor3D, w as tf.Tensor3D, e as tf.Tensor3D, a as tf.Tensor3D),
          ),
        [
          randomTensor(rng, [2, 4, 3]),
          randomDistribution(rng, [2, 2, 4]),
          randomTensor(rng, [2, 2, 3], 0, 1),
          randomTensor(rng, [2, 2, 3]),
        ],
      );
      expect(result.ok, describeCheck(result)).toBe(true);
    });
  });

  it('names a mismatched argument', () => {
    tf.tidy(() => {
      const m = tf.ones([1, 4, 2]) as tf.Tensor3D;
      const w = tf.ones([1, 2, 4]) as tf.Tensor3D;
      expect(() => writeMemory(m, w, tf.ones([1, 1, 2]), tf.ones([1, 2, 2]))).toThrow(
        /erase must have shape \[1, 2, 2\]/,
      );
      expect(() => writeMemory(m, w, tf.ones([1, 2, 2]), tf.ones([1, 2, 3]))).toThrow(
        /add must have shape/,
      );
    });
  });
});
