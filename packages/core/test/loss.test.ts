import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MannError,
  maskedBitsPerSequence,
  Rng,
  scoreSequences,
  selectBackend,
  type SequenceBatch,
} from '@mann/core';
import { gradientCheck, onCpuAndWasm } from '@mann/core/testing';
import { maskedBitsPerSequenceOnArrays } from '../src/training/loss.js';
import { bceBits, expectClose, sigmoid, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const [B, T, O] = [3, 4, 5];

/** Random logits in [-6, 6], binary targets, and a mask with some answer steps. */
function randomProblem(seed: number) {
  const rng = new Rng(seed);
  const logits = uniformArray(rng, B * T * O, -6, 6);
  const targets = rng.fill(B * T * O, (r) => r.bernoulli());
  const mask = new Float32Array([0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  return { logits, targets, mask };
}

/** Sum over masked steps of BCE(sigmoid(z), y) in bits, averaged over the batch (float64). */
function bitsOracle(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  mask: ArrayLike<number>,
) {
  let total = 0;
  for (let s = 0; s < B; s++) {
    for (let t = 0; t < T; t++) {
      if (mask[s * T + t] === 0) continue;
      for (let k = 0; k < O; k++) {
        const i = (s * T + t) * O + k;
        total +=
          (mask[s * T + t] as number) * bceBits(sigmoid(logits[i] as number), targets[i] as number);
      }
    }
  }
  return total / B;
}

const batchOf = (targets: Float32Array, mask: Float32Array): SequenceBatch => ({
  batchSize: B,
  steps: T,
  inputWidth: 1,
  outputWidth: O,
  inputs: new Float32Array(B * T),
  targets,
  mask,
});

const loss = (logits: ArrayLike<number>, targets: ArrayLike<number>, mask: ArrayLike<number>) =>
  maskedBitsPerSequence(
    tf.tensor3d(Array.from(logits), [B, T, O]),
    tf.tensor3d(Array.from(targets), [B, T, O]),
    tf.tensor2d(Array.from(mask), [B, T]),
  );

describe('maskedBitsPerSequence', () => {
  it('costs exactly one bit per masked target bit at logit 0', () => {
    const { targets, mask } = randomProblem(1);
    const masked = mask.reduce((s, m) => s + m, 0); // 8 answer steps
    const value = loss(new Float32Array(B * T * O), targets, mask).dataSync()[0];
    expect(value).toBeCloseTo((masked * O) / B, 5);
  });

  it('matches a loop of sigmoid then binary cross-entropy in bits', () => {
    for (const seed of [2, 3, 4]) {
      const { logits, targets, mask } = randomProblem(seed);
      const expected = bitsOracle(logits, targets, mask);
      const value = loss(logits, targets, mask).dataSync()[0] as number;
      expect(Math.abs(value - expected)).toBeLessThan(1e-5 * expected);
    }
  });

  it('agrees with scoreSequences on the sigmoid outputs', () => {
    const { logits, targets, mask } = randomProblem(5);
    const probabilities = new Float32Array(Array.from(logits, sigmoid));
    const scores = scoreSequences(probabilities, batchOf(targets, mask));
    const value = loss(logits, targets, mask).dataSync()[0] as number;
    expect(Math.abs(value - scores.bitsPerSequence)).toBeLessThan(1e-4 * value);
  });

  it('ignores the outputs at masked-out steps', () => {
    const { logits, targets, mask } = randomProblem(6);
    const changed = logits.slice();
    for (let s = 0; s < B; s++) {
      for (let t = 0; t < T; t++) {
        if (mask[s * T + t] === 0)
          changed.fill(1e4 * (t + 1), (s * T + t) * O, (s * T + t + 1) * O);
      }
    }
    expect(loss(changed, targets, mask).dataSync()[0]).toBe(
      loss(logits, targets, mask).dataSync()[0],
    );
    expect(loss(logits, targets, new Float32Array(B * T)).dataSync()[0]).toBe(0);
  });

  it('stays finite and exact for huge logits', () => {
    const targets = new Float32Array(B * T * O).fill(1);
    const mask = new Float32Array(B * T);
    mask[0] = 1; // one answer step of sequence 0: O bits
    const wrong = loss(new Float32Array(B * T * O).fill(-80), targets, mask).dataSync()[0];
    expect(wrong).toBeCloseTo((80 * O) / Math.LN2 / B, 3);
    const right = loss(new Float32Array(B * T * O).fill(80), targets, mask).dataSync()[0];
    expect(right).toBeGreaterThanOrEqual(0);
    expect(right).toBeLessThan(1e-20);
  });

  it('has gradient (sigmoid(z) - y) mask / (B ln 2), and passes a finite-difference check', () => {
    const { logits, targets, mask } = randomProblem(7);
    const y = tf.tensor3d(targets, [B, T, O]);
    const m = tf.tensor2d(mask, [B, T]);
    const f = (z: tf.Tensor) => maskedBitsPerSequence(z as tf.Tensor3D, y, m);
    const g = tf
      .grad(f)(tf.tensor3d(logits, [B, T, O]))
      .dataSync();
    const expected = Array.from(logits, (z, i) => {
      const step = Math.floor(i / O);
      return ((sigmoid(z) - (targets[i] as number)) * (mask[step] as number)) / (B * Math.LN2);
    });
    expectClose(g, expected, 1e-6);
    const check = gradientCheck((z) => f(z!), [tf.tensor3d(logits, [B, T, O])]);
    expect(check.ok, JSON.stringify(check.worst)).toBe(true);
  });

  it('gives the same value on cpu and wasm', async () => {
    const { logits, targets, mask } = randomProblem(8);
    const { cpu, wasm } = await onCpuAndWasm(() => loss(logits, targets, mask));
    expect(Math.abs(cpu[0]![0]! - wasm[0]![0]!)).toBeLessThan(1e-5 * cpu[0]![0]!);
  });

  it('rejects targets or a mask that do not fit the logits, naming them and their shapes', () => {
    const logits = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const call = (targets: number[], mask: number[]) => () =>
      maskedBitsPerSequence(
        logits,
        tf.zeros(targets) as tf.Tensor as tf.Tensor3D,
        tf.zeros(mask) as tf.Tensor as tf.Tensor2D,
      );
    expect(call([2, 3, 5], [2, 3])).toThrow(MannError);
    expect(call([2, 3, 5], [2, 3])).toThrow(
      'targets must have shape [2, 3, 4] [B, T, O] like logits, got [2, 3, 5]',
    );
    expect(call([2, 3, 4], [2, 4])).toThrow('mask must have shape [2, 3] [B, T], got [2, 4]');
    expect(call([2, 3, 4], [2, 3, 1])).toThrow('mask must be rank 2 [B, T], got [2, 3, 1]');
  });
});

describe('scoreSequences', () => {
  // B = 2, T = 3, O = 2. Sequence 0 answers at steps 1 and 2: step 1 right, step 2 both bits
  // wrong. Sequence 1 answers at step 0: 0.5 counts as 1, so both bits right. Unmasked steps
  // are all wrong and must not count.
  const batch: SequenceBatch = {
    batchSize: 2,
    steps: 3,
    inputWidth: 1,
    outputWidth: 2,
    inputs: new Float32Array(6),
    targets: new Float32Array([1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1]),
    mask: new Float32Array([0, 1, 1, 1, 0, 0]),
  };
  const probabilities = new Float32Array([0, 1, 0.9, 0.2, 0.6, 0.4, 0.5, 0.7, 1, 1, 0, 0]);

  it('counts bit errors per sequence and perfect sequences on the answer steps only', () => {
    const scores = scoreSequences(probabilities, batch);
    expect(scores.bitErrorsPerSequence).toBe(1); // (2 + 0) / 2
    expect(scores.sequenceAccuracy).toBe(0.5);
    const bits =
      -Math.log2(Math.fround(0.9)) -
      Math.log2(1 - Math.fround(0.2)) -
      Math.log2(1 - Math.fround(0.6)) -
      Math.log2(Math.fround(0.4)) -
      Math.log2(0.5) -
      Math.log2(Math.fround(0.7));
    expect(scores.bitsPerSequence).toBeCloseTo(bits / 2, 10);
  });

  it('is perfect when the outputs equal the targets, and finite when they are certain and wrong', () => {
    const perfect = scoreSequences(batch.targets, batch);
    expect(perfect).toEqual({ bitsPerSequence: 0, bitErrorsPerSequence: 0, sequenceAccuracy: 1 });
    const inverted = scoreSequences(
      batch.targets.map((y) => 1 - y),
      batch,
    );
    expect(inverted.bitErrorsPerSequence).toBe(3); // 6 masked bits / 2 sequences
    expect(inverted.sequenceAccuracy).toBe(0);
    expect(Number.isFinite(inverted.bitsPerSequence)).toBe(true);
    expect(inverted.bitsPerSequence).toBeCloseTo((6 * -Math.log2(1e-12)) / 2, 6);
  });

  it('rejects probabilities of the wrong size, with both counts', () => {
    expect(() => scoreSequences(new Float32Array(11), batch)).toThrow(
      'probabilities has 11 values, expected 12',
    );
  });
});

describe("maskedBitsPerSequenceOnArrays (the training threads' loss)", () => {
  const onArrays = (logits: ArrayLike<number>, batch: SequenceBatch) =>
    maskedBitsPerSequenceOnArrays(tf.tensor3d(Array.from(logits), [B, T, O]), batch);

  it('equals the float64 oracle and the TF.js-op loss to float32 rounding', () => {
    for (const seed of [1, 2, 3]) {
      const { logits, targets, mask } = randomProblem(seed);
      mask[2] = 0.5; // a fractional weight
      const got = onArrays(logits, batchOf(targets, mask)).dataSync()[0]!;
      const oracle = bitsOracle(logits, targets, mask);
      expect(Math.abs(got - oracle)).toBeLessThan(2e-7 * oracle);
      const ops = loss(logits, targets, mask).dataSync()[0]!;
      expect(Math.abs(got - ops)).toBeLessThan(1e-6 * ops);
    }
  });

  it('costs exactly one bit per masked target bit at logit 0, and stays exact for huge logits', () => {
    const targets = new Float32Array(B * T * O).fill(1);
    const mask = new Float32Array(B * T);
    mask[0] = 1;
    const batch = batchOf(targets, mask);
    expect(onArrays(new Float32Array(B * T * O), batch).dataSync()[0]).toBeCloseTo(O / B, 6);
    const wrong = onArrays(new Float32Array(B * T * O).fill(-80), batch).dataSync()[0];
    expect(wrong).toBeCloseTo((80 * O) / Math.LN2 / B, 3);
    const right = onArrays(new Float32Array(B * T * O).fill(80), batch).dataSync()[0];
    expect(right).toBeGreaterThanOrEqual(0);
    expect(right).toBeLessThan(1e-20);
  });

  it('has the gradient of the TF.js-op loss (to float32 rounding), scaled by the upstream one', () => {
    const { logits, targets, mask } = randomProblem(9);
    logits[0] = 0; // sigmoid(0) - y: the TF.js ops' subgradients give the same there
    logits[1] = 40;
    logits[2] = -40;
    const batch = batchOf(targets, mask);
    const z = tf.tensor3d(logits, [B, T, O]);
    const y = tf.tensor3d(targets, [B, T, O]);
    const m = tf.tensor2d(mask, [B, T]);
    const ops = tf.grad((x: tf.Tensor) => maskedBitsPerSequence(x as tf.Tensor3D, y, m))(z);
    const mine = tf.grad((x: tf.Tensor) => maskedBitsPerSequenceOnArrays(x as tf.Tensor3D, batch))(
      z,
    );
    expectClose(mine.dataSync(), ops.dataSync(), 1e-7);
    const tripled = tf.grad((x: tf.Tensor) =>
      tf.mul(maskedBitsPerSequenceOnArrays(x as tf.Tensor3D, batch), 3),
    )(z);
    expectClose(
      tripled.dataSync(),
      Array.from(ops.dataSync(), (g) => 3 * g),
      1e-6,
    );
  });

  it('leaves no tensors, and rejects logits that do not fit the batch', () => {
    const { logits, targets, mask } = randomProblem(4);
    const batch = batchOf(targets, mask);
    const z = tf.tensor3d(logits, [B, T, O]);
    const before = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) {
      const g = tf.grad((x: tf.Tensor) => maskedBitsPerSequenceOnArrays(x as tf.Tensor3D, batch))(
        z,
      );
      g.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(() =>
      maskedBitsPerSequenceOnArrays(tf.zeros([B, T, O + 1]) as tf.Tensor3D, batch),
    ).toThrow(`logits must have shape [${B}, ${T}, ${O}]`);
  });
});
