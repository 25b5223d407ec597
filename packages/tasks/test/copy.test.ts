import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import { COPY_GENERALISATION_LENGTHS, copyTask, createTask } from '../src/index.js';
import { CHI_SQUARE_999, answerSteps, chiSquareUniform, inputAt, targetAt } from './helpers.js';

describe('copy', () => {
  it('has input width bits + 1 and output width bits', () => {
    expect(createTask('copy').inputWidth).toBe(9);
    expect(createTask('copy').outputWidth).toBe(8);
    expect(createTask('copy', { bits: 4 }).inputWidth).toBe(5);
  });

  it('lays out L vectors, the delimiter, then L masked answer steps whose targets are the inputs', () => {
    const batch = createTask('copy').sample(new Rng(11), 16);
    let longest = 0;
    for (let b = 0; b < 16; b++) {
      const answers = answerSteps(batch, b);
      const length = answers.length;
      longest = Math.max(longest, length);
      expect(answers).toEqual(Array.from({ length }, (_, i) => length + 1 + i));
      expect(inputAt(batch, b, length)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1]);
      for (let i = 0; i < length; i++) {
        const input = inputAt(batch, b, i);
        expect(input[8]).toBe(0);
        expect(targetAt(batch, b, length + 1 + i)).toEqual(input.slice(0, 8));
        expect(inputAt(batch, b, length + 1 + i).every((v) => v === 0)).toBe(true);
      }
      for (let t = 2 * length + 1; t < batch.steps; t++) {
        expect(inputAt(batch, b, t).every((v) => v === 0)).toBe(true);
      }
    }
    expect(batch.steps).toBe(2 * longest + 1);
  });

  it('draws lengths uniformly over minLength..maxLength', () => {
    const batch = createTask('copy').sample(new Rng(5), 4000);
    const counts = new Array<number>(20).fill(0);
    for (let b = 0; b < batch.batchSize; b++) {
      const length = answerSteps(batch, b).length;
      expect(length).toBeGreaterThanOrEqual(1);
      expect(length).toBeLessThanOrEqual(20);
      counts[length - 1]!++;
    }
    expect(chiSquareUniform(counts)).toBeLessThan(CHI_SQUARE_999[19]!);
  });

  it('draws balanced data bits', () => {
    const batch = createTask('copy', { minLength: 20 }).sample(new Rng(6), 200);
    let ones = 0;
    let bits = 0;
    for (let b = 0; b < 200; b++) {
      for (let t = 0; t < 20; t++) {
        for (const v of inputAt(batch, b, t).slice(0, 8)) {
          ones += v;
          bits++;
        }
      }
    }
    // 32,000 fair bits: standard deviation of the fraction is 0.0028; allow 4 sigma.
    expect(Math.abs(ones / bits - 0.5)).toBeLessThan(4 * Math.sqrt(0.25 / bits));
  });

  it('fixes the length in the generalisation variants', () => {
    const task = createTask('copy');
    expect(task.generalisation).toEqual(COPY_GENERALISATION_LENGTHS.map((l) => `length-${l}`));
    const batch = task.variant('length-120').sample(new Rng(1), 2);
    expect(batch.steps).toBe(241);
    expect(answerSteps(batch, 0).length).toBe(120);
    expect(answerSteps(batch, 1).length).toBe(120);
  });

  it('rejects minLength > maxLength, naming both values', () => {
    expect(() => createTask('copy', { minLength: 5, maxLength: 3 })).toThrow(
      'copy: minLength (5) must be <= maxLength (3)',
    );
    expect(() => copyTask.create({ bits: 8, minLength: 5, maxLength: 3 })).toThrow(/minLength/);
  });
});
