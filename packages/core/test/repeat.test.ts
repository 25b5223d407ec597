import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MannError, repeatBatch, Rng, selectBackend } from '@mann/core';
import { withBackend } from '@mann/core/testing';
import { expectBitwiseEqual, expectClose, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

/** The reference: tf.tile of x with a new first axis, and tf.tile's gradient for `dy`. */
function tiled(x: tf.Tensor, count: number, dy: tf.Tensor): { value: tf.Tensor; grad: tf.Tensor } {
  const tile = (t: tf.Tensor): tf.Tensor =>
    tf.tile(tf.expandDims(t, 0), [count, ...t.shape.map(() => 1)]);
  return { value: tile(x), grad: tf.grad(tile)(x, dy) };
}

/** Values spread over many binades, so that the order of a sum shows in its last bits. */
function spread(rng: Rng, n: number): Float32Array {
  const v = uniformArray(rng, n, -1, 1);
  const e = uniformArray(rng, n, -8, 8);
  return v.map((x, i) => x * 2 ** Math.round(e[i] as number));
}

const CASES: readonly (readonly number[])[] = [[5], [2, 7], [3, 2, 4]];

describe('repeatBatch', () => {
  it('repeats a tiny case and sums its gradient by hand', () => {
    const x = tf.tensor1d([1, 2]);
    const y = repeatBatch(x, 3);
    expect(y.shape).toEqual([3, 2]);
    expectClose(y.dataSync(), [1, 2, 1, 2, 1, 2], 0);
    const dy = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const g = tf.grad((t: tf.Tensor) => repeatBatch(t, 3))(x, dy);
    expect(g.shape).toEqual([2]);
    expectClose(g.dataSync(), [9, 12], 0);
    tf.dispose([x, y, dy, g]);
  });

  it('equals tf.tile in values, and in gradients to the bit on wasm (close on cpu)', async () => {
    for (const backend of ['wasm', 'cpu'] as const) {
      await withBackend(backend, () => {
        const rng = new Rng(3);
        for (const shape of CASES) {
          for (const count of [1, 2, 5, 16]) {
            tf.tidy(() => {
              const size = shape.reduce((a, b) => a * b, 1);
              const x = tf.tensor(spread(rng, size), [...shape]);
              const dy = tf.tensor(spread(rng, size * count), [count, ...shape]);
              const reference = tiled(x, count, dy);
              const value = repeatBatch(x, count);
              const grad = tf.grad((t: tf.Tensor) => repeatBatch(t, count))(x, dy);
              expect(value.shape).toEqual(reference.value.shape);
              expect(grad.shape).toEqual([...shape]);
              const label = `${backend}, shape [${shape.join(', ')}], count ${count}`;
              expectBitwiseEqual(value.dataSync(), reference.value.dataSync(), `value, ${label}`);
              if (backend === 'wasm') {
                expectBitwiseEqual(grad.dataSync(), reference.grad.dataSync(), `grad, ${label}`);
              } else {
                const scale = Math.max(...Array.from(reference.grad.dataSync(), Math.abs));
                expectClose(grad.dataSync(), reference.grad.dataSync(), 1e-6 * scale, label);
              }
            });
          }
        }
      });
    }
  });

  it('costs a few kernels whatever the count (tf.tile: two more per copy in the gradient)', async () => {
    const x = tf.variable(tf.randomNormal([2, 8]));
    const kernels = async (count: number): Promise<number> => {
      const info = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(repeatBatch(x, count)), [x]);
        return [value, ...Object.values(grads)];
      });
      return info.kernels.length;
    };
    expect(await kernels(16)).toBe(await kernels(2));
    x.dispose();
  });

  it('leaves no tensors behind, forward and backward', () => {
    const x = tf.randomNormal([3, 4]);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        tf.grad((t: tf.Tensor) => tf.sum(tf.square(repeatBatch(t, 6))))(x);
      });
      tf.dispose(repeatBatch(x, 4));
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('names a count that is not a positive integer', () => {
    const x = tf.zeros([2]);
    for (const count of [0, -1, 1.5, Number.NaN]) {
      expect(() => repeatBatch(x, count)).toThrow(MannError);
      expect(() => repeatBatch(x, count)).toThrow(`count must be a positive integer, got ${count}`);
    }
    x.dispose();
  });
});
