import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import { createTask } from '../src/index.js';
import { CHI_SQUARE_999, answerSteps, chiSquareUniform, inputAt, targetAt } from './helpers.js';

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

  it('outputs the sequence n times, then the end marker, with n / 10 on the repeat channel', () => {
    const batch = task.sample(new Rng(21), 12);
    for (let b = 0; b < 12; b++) {
      const length = delimiterStep((t) => inputAt(batch, b, t), 8);
      const repeats = Math.round((inputAt(batch, b, length)[9] as number) * 10);
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
      repeats[Math.round((inputAt(batch, b, length)[9] as number) * 10) - 1]!++;
    }
    expect(chiSquareUniform(lengths)).toBeLessThan(CHI_SQUARE_999[9]!);
    expect(chiSquareUniform(repeats)).toBeLessThan(CHI_SQUARE_999[9]!);
  });

  it('keeps the training normaliser in the more-repeats variant (20 repeats show as 2.0)', () => {
    const batch = task.variant('repeats-20').sample(new Rng(23), 3);
    for (let b = 0; b < 3; b++) {
      const length = delimiterStep((t) => inputAt(batch, b, t), 8);
      expect(inputAt(batch, b, length)[9]).toBe(2);
      expect(answerSteps(batch, b).length).toBe(20 * length + 1);
    }
  });
});
