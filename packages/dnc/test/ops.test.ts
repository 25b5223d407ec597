import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import {
  gatherLastAxis,
  gatherRows,
  scatterAddLastAxis,
  scatterAddRows,
  withoutGradient,
} from '../src/ops.js';
import {
  expectClose,
  expectGradientsOnBothBackends,
  onBothBackends,
  rngFor,
  uniform,
} from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

describe('gatherLastAxis and scatterAddLastAxis', () => {
  const rng = rngFor(1);
  const x = uniform(rng, 2 * 3 * 5, -1, 1); // [2, 3, 5]
  const indices = Int32Array.from({ length: 2 * 3 * 4 }, () => rng.int(0, 4)); // [2, 3, 4], repeats

  it('gather picks x[..., indices] on cpu and wasm', async () => {
    const [out] = await onBothBackends(() =>
      gatherLastAxis(tf.tensor3d(x, [2, 3, 5]), tf.tensor3d(indices, [2, 3, 4], 'int32')),
    );
    const expected = Array.from(
      indices,
      (j, flatIndex) => x[Math.floor(flatIndex / 4) * 5 + j] as number,
    );
    expectClose(out as Float32Array, expected, 0);
  });

  it('scatter-add sums repeated indices on cpu and wasm', async () => {
    const values = uniform(rngFor(2), 24, -1, 1);
    const [out] = await onBothBackends(() =>
      scatterAddLastAxis(
        tf.tensor3d(values, [2, 3, 4]),
        tf.tensor3d(indices, [2, 3, 4], 'int32'),
        5,
      ),
    );
    const expected = new Array<number>(30).fill(0);
    indices.forEach((j, k) => {
      const at = Math.floor(k / 4) * 5 + j;
      expected[at] = (expected[at] as number) + (values[k] as number);
    });
    expectClose(out as Float32Array, expected, 1e-6);
  });

  it('both have correct gradients on cpu and wasm (wasm has no gather gradient of its own)', async () => {
    const weights = tf.tensor3d(uniform(rngFor(3), 24, -1, 1), [2, 3, 4]);
    const weights5 = tf.tensor3d(uniform(rngFor(4), 30, -1, 1), [2, 3, 5]);
    const idx = (): tf.Tensor3D => tf.tensor3d(indices, [2, 3, 4], 'int32');
    await expectGradientsOnBothBackends(
      (v) => tf.sum(tf.mul(tf.square(gatherLastAxis(v as tf.Tensor3D, idx())), weights)),
      () => [tf.tensor3d(x, [2, 3, 5])],
    );
    await expectGradientsOnBothBackends(
      (v) => tf.sum(tf.mul(tf.square(scatterAddLastAxis(v as tf.Tensor3D, idx(), 5)), weights5)),
      () => [tf.tensor3d(uniform(rngFor(5), 24, -1, 1), [2, 3, 4])],
    );
    weights.dispose();
    weights5.dispose();
  });

  it('reject indices whose leading dimensions do not match', () => {
    const a = tf.zeros([2, 3, 5]);
    const i = tf.zeros([3, 2, 4], 'int32');
    expect(() => gatherLastAxis(a, i)).toThrow(/indices must be int32 \[2, 3, K\]/);
    tf.dispose([a, i]);
  });
});

describe('gatherRows and scatterAddRows', () => {
  const rows = Int32Array.from([2, 0, 2, 1, 1, 3]); // [2, 3]: repeats within a batch row
  const x = uniform(rngFor(6), 2 * 4 * 3, -1, 1); // [2, 4, 3]

  it('move whole rows, summing repeated ones, on cpu and wasm', async () => {
    const values = uniform(rngFor(7), 2 * 3 * 3, -1, 1); // [2, 3, 3]
    const [gathered, scattered] = await onBothBackends(() => {
      const r = tf.tensor2d(rows, [2, 3], 'int32');
      return [
        gatherRows(tf.tensor3d(x, [2, 4, 3]), r),
        scatterAddRows(tf.tensor3d(values, [2, 3, 3]), r, 4),
      ];
    });
    const expectedGather: number[] = [];
    const expectedScatter = new Array<number>(2 * 4 * 3).fill(0);
    rows.forEach((row, t) => {
      const b = Math.floor(t / 3);
      for (let c = 0; c < 3; c++) {
        expectedGather.push(x[(b * 4 + row) * 3 + c] as number);
        const at = (b * 4 + row) * 3 + c;
        expectedScatter[at] = (expectedScatter[at] as number) + (values[t * 3 + c] as number);
      }
    });
    expectClose(gathered as Float32Array, expectedGather, 0);
    expectClose(scattered as Float32Array, expectedScatter, 1e-6);
  });

  it('have correct gradients on cpu and wasm', async () => {
    const weights = tf.tensor3d(uniform(rngFor(8), 18, -1, 1), [2, 3, 3]);
    const weights4 = tf.tensor3d(uniform(rngFor(9), 24, -1, 1), [2, 4, 3]);
    const r = (): tf.Tensor2D => tf.tensor2d(rows, [2, 3], 'int32');
    await expectGradientsOnBothBackends(
      (v) => tf.sum(tf.mul(tf.square(gatherRows(v as tf.Tensor3D, r())), weights)),
      () => [tf.tensor3d(x, [2, 4, 3])],
    );
    await expectGradientsOnBothBackends(
      (v) => tf.sum(tf.mul(tf.square(scatterAddRows(v as tf.Tensor3D, r(), 4)), weights4)),
      () => [tf.tensor3d(uniform(rngFor(10), 18, -1, 1), [2, 3, 3])],
    );
    tf.dispose([weights, weights4]);
  });
});

describe('withoutGradient', () => {
  it('lets gradient-less ops (TopK) sit between a parameter and the loss', () => {
    const x = tf.tensor1d([0.3, 0.1, 0.2]);
    const g = tf.grad((v) => {
      const order = withoutGradient((u) => tf.topk(u, 3).indices, v);
      return tf.sum(tf.mul(gatherLastAxis(v, order), tf.tensor1d([1, 2, 3])));
    })(x);
    // sorted descending: 0.3 (slot 0) * 1, 0.2 (slot 2) * 2, 0.1 (slot 1) * 3
    expectClose(g.dataSync(), [1, 3, 2], 0);
    tf.dispose([x, g]);
  });
});
