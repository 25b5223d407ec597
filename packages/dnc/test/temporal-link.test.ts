import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import { directionalWeights, updatePrecedence, updateTemporalLink } from '@mann/dnc';
import {
  expectClose,
  expectGradientsOnBothBackends,
  flat,
  nest,
  onBothBackends,
  rngFor,
  weightings,
  type NestedArray,
} from './helpers.js';
import { directionalOracle, linkOracle, precedenceOracle, type Matrix } from './oracles.js';

beforeAll(async () => {
  await selectBackend();
});

const [B, Hw, N, R] = [2, 2, 5, 3];

/** A valid (link, precedence) after `steps` random writes, from the oracle: [B][Hw][N][N], [B][Hw][N]. */
function randomLinkState(seed: number, steps = 4): { link: Matrix[][]; precedence: Matrix[] } {
  const rng = rngFor(seed);
  let link: Matrix[][] = Array.from({ length: B }, () =>
    Array.from({ length: Hw }, () => Array.from({ length: N }, () => new Array<number>(N).fill(0))),
  );
  let precedence: Matrix[] = Array.from({ length: B }, () =>
    Array.from({ length: Hw }, () => new Array<number>(N).fill(0)),
  );
  for (let t = 0; t < steps; t++) {
    const w = nest(weightings(rng, B * Hw, N, { sharpness: 2 }), [B, Hw, N]) as Matrix[];
    link = link.map((l, b) => linkOracle(l, precedence[b] as Matrix, w[b] as Matrix));
    precedence = precedence.map((p, b) => precedenceOracle(p, w[b] as Matrix));
  }
  return { link, precedence };
}

describe('updatePrecedence', () => {
  it('matches a hand-computed case and the loop oracle', async () => {
    const [hand] = await onBothBackends(() =>
      updatePrecedence(tf.tensor3d([[[0.2, 0.5, 0]]]), tf.tensor3d([[[0.5, 0, 0.25]]])),
    );
    expectClose(hand as Float32Array, [0.25 * 0.2 + 0.5, 0.25 * 0.5, 0.25], 1e-7);
    const rng = rngFor(31);
    const p = weightings(rng, B * Hw, N);
    const w = weightings(rng, B * Hw, N);
    const [out] = await onBothBackends(() =>
      updatePrecedence(tf.tensor3d(p, [B, Hw, N]), tf.tensor3d(w, [B, Hw, N])),
    );
    const expected = (nest(p, [B, Hw, N]) as Matrix[]).flatMap((pb, b) =>
      precedenceOracle(pb, (nest(w, [B, Hw, N]) as Matrix[])[b] as Matrix).flat(),
    );
    expectClose(out as Float32Array, expected, 1e-6);
    for (let row = 0; row < B * Hw; row++) {
      expect(
        (out as Float32Array).slice(row * N, (row + 1) * N).reduce((a, x) => a + x, 0),
      ).toBeLessThanOrEqual(1 + 1e-6);
    }
  });
});

describe('updateTemporalLink', () => {
  it('matches a hand-computed case (old precedence, zero diagonal)', async () => {
    const [out] = await onBothBackends(() =>
      updateTemporalLink(
        tf.zeros([1, 1, 3, 3]) as tf.Tensor4D,
        tf.tensor3d([[[0.2, 0.5, 0]]]),
        tf.tensor3d([[[0.5, 0, 0.5]]]),
      ),
    );
    // L[i][j] = w[i] p[j] off the diagonal; L[0][0] would be 0.1 but is forced to 0.
    expectClose(out as Float32Array, [0, 0.25, 0, 0, 0, 0, 0.1, 0.25, 0], 1e-7);
  });

  it('matches the loop oracle and keeps its invariants over a random sequence, on cpu and wasm', async () => {
    const { link, precedence } = randomLinkState(32);
    const w = weightings(rngFor(33), B * Hw, N, { sharpness: 2 });
    const [out] = await onBothBackends(() =>
      updateTemporalLink(
        tf.tensor4d(flat(link), [B, Hw, N, N]),
        tf.tensor3d(flat(precedence), [B, Hw, N]),
        tf.tensor3d(w, [B, Hw, N]),
      ),
    );
    const wn = nest(w, [B, Hw, N]) as Matrix[];
    const expected = link.flatMap((l, b) =>
      flat(linkOracle(l, precedence[b] as Matrix, wn[b] as Matrix)),
    );
    expectClose(out as Float32Array, expected, 1e-6);
    const matrices = nest(out as Float32Array, [B * Hw, N, N]) as Matrix[];
    for (const l of matrices) {
      for (let i = 0; i < N; i++) {
        expect((l[i] as number[])[i]).toBe(0);
        const row = (l[i] as number[]).reduce((a, x) => a + x, 0);
        const column = l.reduce((a, r) => a + (r[i] as number), 0);
        expect(row).toBeLessThanOrEqual(1 + 1e-6);
        expect(column).toBeLessThanOrEqual(1 + 1e-6);
        expect(Math.min(...(l[i] as number[]))).toBeGreaterThanOrEqual(0);
      }
    }
  });
});

describe('directionalWeights', () => {
  it('gives forward = L w and backward = L^T w for every read and write head (loop oracle)', async () => {
    const { link } = randomLinkState(34);
    const wr = weightings(rngFor(35), B * R, N);
    const [forward, backward] = await onBothBackends(() => {
      const l = tf.tensor4d(flat(link), [B, Hw, N, N]);
      const w = tf.tensor3d(wr, [B, R, N]);
      return [directionalWeights(l, w, true), directionalWeights(l, w, false)];
    });
    const wn = nest(wr, [B, R, N]) as Matrix[];
    expectClose(
      forward as Float32Array,
      link.flatMap((l, b) => flat(directionalOracle(l, wn[b] as Matrix, true) as NestedArray)),
      1e-6,
    );
    expectClose(
      backward as Float32Array,
      link.flatMap((l, b) => flat(directionalOracle(l, wn[b] as Matrix, false) as NestedArray)),
      1e-6,
    );
  });

  it('planted: after writing slots 0, 1, 2 in turn, forward moves 0 -> 1 -> 2 and backward 2 -> 1', async () => {
    const [forward01, forward12, backward21] = await onBothBackends(() => {
      let link = tf.zeros([1, 1, 4, 4]) as tf.Tensor4D;
      let precedence = tf.zeros([1, 1, 4]) as tf.Tensor3D;
      for (const slot of [0, 1, 2]) {
        const w = tf
          .oneHot(tf.tensor1d([slot], 'int32'), 4)
          .toFloat()
          .reshape([1, 1, 4]) as tf.Tensor3D;
        link = updateTemporalLink(link, precedence, w);
        precedence = updatePrecedence(precedence, w);
      }
      const at = (slot: number): tf.Tensor3D =>
        tf
          .oneHot(tf.tensor1d([slot], 'int32'), 4)
          .toFloat()
          .reshape([1, 1, 4]) as tf.Tensor3D;
      return [
        directionalWeights(link, at(0), true),
        directionalWeights(link, at(1), true),
        directionalWeights(link, at(2), false),
      ];
    });
    expectClose(forward01 as Float32Array, [0, 1, 0, 0], 0);
    expectClose(forward12 as Float32Array, [0, 0, 1, 0], 0);
    expectClose(backward21 as Float32Array, [0, 1, 0, 0], 0);
  });

  it('has finite-difference gradients through link, precedence and directional weights', async () => {
    const { link, precedence } = randomLinkState(36, 2);
    const w = weightings(rngFor(37), B * Hw, N, { sharpness: 2 });
    const wr = weightings(rngFor(38), B * R, N);
    const scale = tf.tensor4d(
      Array.from({ length: B * R * Hw * N }, (_, i) => Math.sin(i + 1)),
      [B, R, Hw, N],
    );
    await expectGradientsOnBothBackends(
      (l, p, ww, r) => {
        const next = updateTemporalLink(l as tf.Tensor4D, p as tf.Tensor3D, ww as tf.Tensor3D);
        const f = directionalWeights(next, r as tf.Tensor3D, true);
        const b = directionalWeights(next, r as tf.Tensor3D, false);
        return tf.sum(tf.mul(tf.add(f, tf.mul(2, b)), scale));
      },
      () => [
        tf.tensor4d(flat(link), [B, Hw, N, N]),
        tf.tensor3d(flat(precedence), [B, Hw, N]),
        tf.tensor3d(w, [B, Hw, N]),
        tf.tensor3d(wr, [B, R, N]),
      ],
    );
    scale.dispose();
  });
});
