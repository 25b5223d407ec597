import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import type { SequenceBatch } from '@mann/core';
import { createTask } from '../src/index.js';
import { CHI_SQUARE_999, answerSteps, chiSquareUniform, inputAt, targetAt } from './helpers.js';

/** Items (as flat bit arrays) and the query, read back from the inputs of sequence b. */
function readSequence(batch: SequenceBatch, b: number): { items: number[][]; query: number[] } {
  const items: number[][] = [];
  let t = 0;
  while (inputAt(batch, b, t)[6] === 1) {
    items.push([1, 2, 3].flatMap((v) => inputAt(batch, b, t + v).slice(0, 6)));
    t += 4;
  }
  expect(inputAt(batch, b, t)[7]).toBe(1);
  const query = [1, 2, 3].flatMap((v) => inputAt(batch, b, t + v).slice(0, 6));
  expect(inputAt(batch, b, t + 4)[7]).toBe(1);
  return { items, query };
}

describe('associative-recall', () => {
  const task = createTask('associative-recall');

  it('targets the item that follows the queried one', () => {
    const batch = task.sample(new Rng(31), 20);
    for (let b = 0; b < 20; b++) {
      const { items, query } = readSequence(batch, b);
      expect(items.length).toBeGreaterThanOrEqual(2);
      expect(items.length).toBeLessThanOrEqual(6);
      expect(new Set(items.map((i) => i.join(''))).size).toBe(items.length);
      const queried = items.findIndex((item) => item.join('') === query.join(''));
      expect(queried).toBeGreaterThanOrEqual(0);
      expect(queried).toBeLessThan(items.length - 1);
      const answers = answerSteps(batch, b);
      expect(answers).toEqual([0, 1, 2].map((v) => items.length * 4 + 5 + v));
      expect(answers.flatMap((t) => targetAt(batch, b, t))).toEqual(items[queried + 1]);
    }
  });

  it('draws item counts uniformly over 2..6 and balanced bits', () => {
    const batch = task.sample(new Rng(32), 2500);
    const counts = new Array<number>(5).fill(0);
    let ones = 0;
    let bits = 0;
    for (let b = 0; b < batch.batchSize; b++) {
      const { items } = readSequence(batch, b);
      counts[items.length - 2]!++;
      for (const item of items) {
        for (const v of item) ones += v;
        bits += item.length;
      }
    }
    expect(chiSquareUniform(counts)).toBeLessThan(CHI_SQUARE_999[4]!);
    expect(Math.abs(ones / bits - 0.5)).toBeLessThan(4 * Math.sqrt(0.25 / bits));
  });

  it('fixes the item count in the generalisation variants', () => {
    const batch = task.variant('items-12').sample(new Rng(33), 3);
    for (let b = 0; b < 3; b++) expect(readSequence(batch, b).items.length).toBe(12);
  });

  it('refuses items too small to be distinct', () => {
    expect(() => createTask('associative-recall', { bits: 1, itemLength: 2, maxItems: 6 })).toThrow(
      /gives 4 distinct items, too few for maxItems = 6/,
    );
  });
});
