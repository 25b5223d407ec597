import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import {
  directionalWeights,
  initialSparseLink,
  keepLargest,
  sparseDirectionalWeights,
  sparseLinkToDense,
  updatePrecedence,
  updateSparseLink,
  updateTemporalLink,
  type SparseLink,
} from '@mann/dnc';
import {
  expectClose,
  expectGradientsOnBothBackends,
  nest,
  onBothBackends,
  rngFor,
  weightings,
} from './helpers.js';
import { keepLargestOracle, precedenceOracle, sparseLinkOracle, type Matrix } from './oracles.js';

beforeAll(async () => {
  await selectBackend();
});

/**
 * Runs `steps` link updates from the empty link, both dense and sparse (capacity min(k, N)),
 * and returns per step: [dense link, sparse link as dense, sparse columns, dense f, sparse f,
 * dense b, sparse b].
 */
function runBoth(
  writes: Float32Array[],
  reads: Float32Array,
  dims: { B: number; Hw: number; N: number; R: number },
  k: number,
): tf.Tensor[] {
  const { B, Hw, N, R } = dims;
  let dense = tf.zeros([B, Hw, N, N]) as tf.Tensor4D;
  let sparse: SparseLink = initialSparseLink(B, Hw, N, Math.min(k, N));
  let precedence = tf.zeros([B, Hw, N]) as tf.Tensor3D;
  const readWeights = tf.tensor3d(reads, [B, R, N]);
  const out: tf.Tensor[] = [];
  for (const values of writes) {
    const w = tf.tensor3d(values, [B, Hw, N]);
    dense = updateTemporalLink(dense, precedence, w);
    sparse = updateSparseLink(sparse, precedence, w, k);
    precedence = updatePrecedence(precedence, w);
    out.push(
      dense,
      sparseLinkToDense(sparse),
      sparse.columns,
      directionalWeights(dense, readWeights, true),
      sparseDirectionalWeights(sparse, readWeights, true),
      directionalWeights(dense, readWeights, false),
      sparseDirectionalWeights(sparse, readWeights, false),
    );
  }
  return out;
}

describe('sparse links', () => {
  it('equal dense links, forward and backward weightings when K >= N, on cpu and wasm', async () => {
    const dims = { B: 2, Hw: 2, N: 5, R: 3 };
    const rng = rngFor(41);
    const writes = Array.from({ length: 6 }, () =>
      weightings(rng, dims.B * dims.Hw, dims.N, { sharpness: 1.5 }),
    );
    const reads = weightings(rng, dims.B * dims.R, dims.N);
    for (const k of [5, 8]) {
      const out = await onBothBackends(() => runBoth(writes, reads, dims, k));
      for (let t = 0; t < writes.length; t++) {
        const [dense, sparse, , fd, fs, bd, bs] = out.slice(7 * t, 7 * t + 7) as Float32Array[];
        expectClose(sparse as Float32Array, dense as Float32Array, 1e-6, `link, K=${k}, step ${t}`);
        expectClose(fs as Float32Array, fd as Float32Array, 1e-6, `forward, K=${k}, step ${t}`);
        expectClose(bs as Float32Array, bd as Float32Array, 1e-6, `backward, K=${k}, step ${t}`);
      }
    }
  });

  it('have the same gradients as dense links when K >= N, on cpu and wasm', async () => {
    const [B, Hw, N, R] = [2, 2, 5, 2];
    const rng = rngFor(44);
    const writes = Array.from({ length: 3 }, () => weightings(rng, B * Hw, N, { sharpness: 1.5 }));
    const reads = weightings(rng, B * R, N);
    const scale = Array.from({ length: B * R * Hw * N }, (_, i) => Math.sin(i));
    const loss =
      (sparse: boolean) =>
      (...inputs: tf.Tensor[]): tf.Scalar => {
        const readWeights = inputs[inputs.length - 1] as tf.Tensor3D;
        let dense = tf.zeros([B, Hw, N, N]) as tf.Tensor4D;
        let stored = initialSparseLink(B, Hw, N, N);
        let precedence = tf.zeros([B, Hw, N]) as tf.Tensor3D;
        for (const w of inputs.slice(0, -1) as tf.Tensor3D[]) {
          if (sparse) stored = updateSparseLink(stored, precedence, w, N);
          else dense = updateTemporalLink(dense, precedence, w);
          precedence = updatePrecedence(precedence, w);
        }
        const f = sparse
          ? sparseDirectionalWeights(stored, readWeights, true)
          : directionalWeights(dense, readWeights, true);
        const b = sparse
          ? sparseDirectionalWeights(stored, readWeights, false)
          : directionalWeights(dense, readWeights, false);
        return tf.sum(tf.mul(tf.add(f, tf.mul(2, b)), tf.tensor4d(scale, [B, R, Hw, N])));
      };
    const inputs = (): tf.Tensor[] => [
      ...writes.map((w) => tf.tensor3d(w, [B, Hw, N])),
      tf.tensor3d(reads, [B, R, N]),
    ];
    const out = await onBothBackends(() => [
      ...tf.grads(loss(false))(inputs()),
      ...tf.grads(loss(true))(inputs()),
    ]);
    for (let i = 0; i < 4; i++)
      expectClose(out[4 + i] as Float32Array, out[i] as Float32Array, 1e-5, `input ${i}`);
  });

  it('with K < N match the sparse oracle, keep distinct columns, and keep the link invariants', async () => {
    const dims = { B: 2, Hw: 1, N: 9, R: 2 };
    const k = 3;
    const rng = rngFor(42);
    const writes = Array.from({ length: 7 }, () =>
      weightings(rng, dims.B, dims.N, { sharpness: 2 }),
    );
    const reads = weightings(rng, dims.B * dims.R, dims.N);
    const out = await onBothBackends(() => runBoth(writes, reads, dims, k));
    const { B, N } = dims;
    let links: Matrix[] = Array.from({ length: B }, () =>
      Array.from({ length: N }, () => new Array<number>(N).fill(0)),
    );
    let precedence: Matrix = Array.from({ length: B }, () => new Array<number>(N).fill(0));
    writes.forEach((values, t) => {
      const w = nest(values, [B, N]) as Matrix;
      links = links.map((l, b) =>
        sparseLinkOracle(l, precedence[b] as number[], w[b] as number[], k),
      );
      precedence = precedence.map(
        (p, b) => precedenceOracle([p], [w[b] as number[]])[0] as number[],
      );
      const [, sparse, columns, , fs, , bs] = out.slice(7 * t, 7 * t + 7) as Float32Array[];
      expectClose(sparse as Float32Array, links.flat(2), 1e-6, `step ${t}`);
      const rows = nest(columns as Float32Array, [B * N, k]) as Matrix;
      rows.forEach((row, i) => {
        expect(new Set(row).size, `row ${i} columns ${row}`).toBe(k);
      });
      const dense = nest(sparse as Float32Array, [B, N, N]) as Matrix[];
      for (const l of dense) {
        for (let i = 0; i < N; i++) {
          expect((l[i] as number[])[i]).toBe(0);
          expect((l[i] as number[]).reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(1 + 1e-6);
          expect(l.reduce((a, r) => a + (r[i] as number), 0)).toBeLessThanOrEqual(1 + 1e-6);
        }
      }
      // The sparse directional weightings are those of the link they store.
      const r = nest(reads, [B, dims.R, N]) as Matrix[];
      const forward = dense.flatMap((l, b) =>
        (r[b] as Matrix).flatMap((wr) =>
          l.map((row) => row.reduce((a, x, j) => a + x * (wr[j] as number), 0)),
        ),
      );
      const backward = dense.flatMap((l, b) =>
        (r[b] as Matrix).flatMap((wr) =>
          l.map((_, j) => l.reduce((a, row, i) => a + (row[j] as number) * (wr[i] as number), 0)),
        ),
      );
      expectClose(fs as Float32Array, forward, 1e-6, `forward step ${t}`);
      expectClose(bs as Float32Array, backward, 1e-6, `backward step ${t}`);
    });
  });

  it('planted: with K = 1 < N, writing slots 0, 1, 2 then reading forward from 0 gives slot 1', async () => {
    const N = 6;
    const oneHot = (slot: number): Float32Array =>
      Float32Array.from({ length: N }, (_, i) => (i === slot ? 1 : 0));
    const out = await onBothBackends(() =>
      runBoth([oneHot(0), oneHot(1), oneHot(2)], oneHot(0), { B: 1, Hw: 1, N, R: 1 }, 1),
    );
    const [dense, sparse, , fd, fs] = out.slice(14, 21) as Float32Array[];
    expectClose(sparse as Float32Array, dense as Float32Array, 0);
    expectClose(fd as Float32Array, [0, 1, 0, 0, 0, 0], 0);
    expectClose(fs as Float32Array, fd as Float32Array, 0);
  });

  it('have finite-difference gradients (K < N and K >= N)', async () => {
    const [B, Hw, N, R] = [2, 1, 6, 2];
    const rng = rngFor(43);
    const p = tf.tensor3d(weightings(rng, B * Hw, N, { sharpness: 3 }), [B, Hw, N]);
    const w0 = weightings(rng, B * Hw, N, { sharpness: 3 });
    const w1 = weightings(rng, B * Hw, N, { sharpness: 3 });
    const reads = weightings(rng, B * R, N);
    const scale = tf.tensor4d(
      Array.from({ length: B * R * Hw * N }, (_, i) => Math.cos(i)),
      [B, R, Hw, N],
    );
    for (const k of [3, 6]) {
      await expectGradientsOnBothBackends(
        (a, b, r) => {
          let link = initialSparseLink(B, Hw, N, Math.min(k, N));
          link = updateSparseLink(link, p, a as tf.Tensor3D, k);
          link = updateSparseLink(link, updatePrecedence(p, a as tf.Tensor3D), b as tf.Tensor3D, k);
          const f = sparseDirectionalWeights(link, r as tf.Tensor3D, true);
          const back = sparseDirectionalWeights(link, r as tf.Tensor3D, false);
          return tf.sum(tf.mul(tf.add(f, tf.mul(3, back)), scale));
        },
        () => [
          tf.tensor3d(w0, [B, Hw, N]),
          tf.tensor3d(w1, [B, Hw, N]),
          tf.tensor3d(reads, [B, R, N]),
        ],
        { delta: 1e-3 },
      );
    }
    tf.dispose([p, scale]);
  });
});

describe('keepLargest', () => {
  it('keeps the K largest entries and passes gradients to them only', async () => {
    const values = Float32Array.from([0.1, 0.5, 0.2, 0.7, 0.05, 0.3]);
    const [kept, grad] = await onBothBackends(() => {
      const x = tf.tensor2d(values, [1, 6]);
      return [
        keepLargest(x, 3),
        tf.grad((v) => tf.sum(tf.mul(keepLargest(v, 3), tf.range(1, 7))))(x),
      ];
    });
    expectClose(kept as Float32Array, keepLargestOracle(Array.from(values), 3), 0);
    expectClose(grad as Float32Array, [0, 2, 0, 4, 0, 6], 0);
  });
});
