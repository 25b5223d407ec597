import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import { createTask, encodeRepeatCount, repeatCountScale } from '../src/index.js';
import { CHI_SQUARE_999, answerSteps, chiSquareUniform, inputAt, targetAt } from './helpers.js';

/** (n - 5.5) / std of U{1..10}: the default training normalisation, computed by hand. */
const STD_1_TO_10 = Math.sqrt(99 / 12);
const decode = (value: number): number => Math.round(value * STD_1_TO_10 + 5.5);

/** Length L: the delimiter is the first step whose channel `bits` is set. */
function delimiterStep(input: (t: number) => number[], bits: number): number {
  let t = 0;
  while (input(t)[bits] !== 1) t++;
  return t;
}

describe('repeat-copy', () => {
  const task = createTask('repeat-copy');

  it('has input width bits + 2 and output width bits + 1', () => {
    expect(task.inputWidth).toBe(10);
    expect(task.outputWidth).toBe(9);
  });

  it('outputs the sequence n times, then the end marker, with (n - 5.5) / 2.872 on the repeat channel', () => {
    const batch = task.sample(new Rng(21), 12);
    for (let b = 0; b < 12; b++) {
      const length = delimiterStep((t) => inputAt(batch, b, t), 8);
      const repeats = decode(inputAt(batch, b, length)[9] as number);
      expect(repeats).toBeGreaterThanOrEqual(1);
      expect(repeats).toBeLessThanOrEqual(10);
      const answers = answerSteps(batch, b);
      expect(answers.length).toBe(repeats * length + 1);
      expect(answers[0]).toBe(length + 1);
      for (let k = 0; k < repeats * length; k++) {
        const source = inputAt(batch, b, k % length).slice(0, 8);
        expect(targetAt(batch, b, length + 1 + k)).toEqual([...source, 0]);
      }
      const end = length + 1 + repeats * length;
      expect(targetAt(batch, b, end)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1]);
      for (let t = 0; t < length; t++) expect(inputAt(batch, b, t).slice(8)).toEqual([0, 0]);
    }
  });

  it('draws lengths and repeats uniformly', () => {
    const batch = task.sample(new Rng(22), 3000);
    const lengths = new Array<number>(10).fill(0);
    const repeats = new Array<number>(10).fill(0);
    for (let b = 0; b < batch.batchSize; b++) {
      const length = delimiterStep((t) => inputAt(batch, b, t), 8);
      lengths[length - 1]!++;
      repeats[decode(inputAt(batch, b, length)[9] as number) - 1]!++;
    }
    expect(chiSquareUniform(lengths)).toBeLessThan(CHI_SQUARE_999[9]!);
    expect(chiSquareUniform(repeats)).toBeLessThan(CHI_SQUARE_999[9]!);
  });

  it('normalises the count to mean 0 and variance 1 over the training distribution', () => {
    for (const [min, max] of [
      [1, 10],
      [3, 7],
      [1, 2],
    ] as const) {
      const task = createTask('repeat-copy', { minRepeats: min, maxRepeats: max, maxLength: 2 });
      const batch = task.sample(new Rng(24), 20_000);
      const counts: number[] = [];
      for (let b = 0; b < batch.batchSize; b++) {
        const length = delimiterStep((t) => inputAt(batch, b, t), 8);
        counts.push(inputAt(batch, b, length)[9] as number);
      }
      const mean = counts.reduce((a, c) => a + c, 0) / counts.length;
      const variance = counts.reduce((a, c) => a + (c - mean) ** 2, 0) / counts.length;
      // Standard error of the mean of 20,000 unit-variance draws is 0.007; of the variance < 0.02.
      expect(Math.abs(mean)).toBeLessThan(0.03);
      expect(Math.abs(variance - 1)).toBeLessThan(0.06);
    }
  });

  it('matches the hand-computed scale of U{1..10}: mean 5.5, std sqrt(99 / 12) = 2.872', () => {
    const scale = repeatCountScale(createTask('repeat-copy').params);
    expect(scale.mean).toBe(5.5);
    expect(scale.std).toBeCloseTo(2.8723, 4);
    expect(encodeRepeatCount(20, scale)).toBeCloseTo((20 - 5.5) / 2.8723, 4);
    // A single repeat count has no spread: the channel carries n - mean (0 for training data).
    expect(
      encodeRepeatCount(
        4,
        repeatCountScale(createTask('repeat-copy', { minRepeats: 4, maxRepeats: 4 }).params),
      ),
    ).toBe(0);
  });

  it('keeps the training normalisation in the more-repeats variant: 20 reads (20 - 5.5) / 2.872', () => {
    const batch = task.variant('repeats-20').sample(new Rng(23), 3);
    for (let b = 0; b < 3; b++) {
      const length = delimiterStep((t) => inputAt(batch, b, t), 8);
      expect(inputAt(batch, b, length)[9]).toBeCloseTo((20 - 5.5) / STD_1_TO_10, 5);
      expect(answerSteps(batch, b).length).toBe(20 * length + 1);
    }
  });

  it('pins the normalisation of a custom training range in its variants and override sets', () => {
    const trained = createTask('repeat-copy', { minRepeats: 1, maxRepeats: 4 });
    const expected = (30 - 2.5) / Math.sqrt(15 / 12);
    for (const set of [trained.variantWith({ minRepeats: 30, maxRepeats: 30 })]) {
      expect(set.params.scaleMinRepeats).toBe(1);
      expect(set.params.scaleMaxRepeats).toBe(4);
      const batch = set.sample(new Rng(25), 2);
      const length = delimiterStep((t) => inputAt(batch, 0, t), 8);
      expect(inputAt(batch, 0, length)[9]).toBeCloseTo(expected, 5);
    }
    // A set that names the scale itself keeps what it names.
    const own = trained.variantWith({ scaleMinRepeats: 1, scaleMaxRepeats: 10 });
    expect(repeatCountScale(own.params).mean).toBe(5.5);
  });

  it('rejects a half-given or reversed scale range, naming the fields', () => {
    expect(() => createTask('repeat-copy', { scaleMinRepeats: 2 })).toThrow(
      /scaleMinRepeats \(2\) and scaleMaxRepeats \(0\) must both be 0 or both be set/,
    );
    expect(() => createTask('repeat-copy', { scaleMinRepeats: 5, scaleMaxRepeats: 3 })).toThrow(
      'repeat-copy: scaleMinRepeats (5) must be <= scaleMaxRepeats (3)',
    );
  });
});
