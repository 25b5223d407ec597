import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import { createTask } from '../src/index.js';
import { answerSteps, inputAt, targetAt } from './helpers.js';

describe('priority-sort', () => {
  const task = createTask('priority-sort');

  it('has 20 inputs with priorities, a delimiter and 16 masked answer steps', () => {
    const batch = task.sample(new Rng(51), 4);
    expect([task.inputWidth, task.outputWidth, batch.steps]).toEqual([10, 8, 37]);
    for (let b = 0; b < 4; b++) {
      expect(answerSteps(batch, b)).toEqual(Array.from({ length: 16 }, (_, i) => 21 + i));
      expect(inputAt(batch, b, 20)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
  });

  it('targets the 16 highest-priority vectors in descending order of priority', () => {
    const batch = task.sample(new Rng(52), 10);
    for (let b = 0; b < 10; b++) {
      const inputs = Array.from({ length: 20 }, (_, t) => inputAt(batch, b, t));
      const sorted = [...inputs].sort((x, y) => (y[8] as number) - (x[8] as number));
      for (let k = 0; k < 16; k++) {
        expect(targetAt(batch, b, 21 + k)).toEqual((sorted[k] as number[]).slice(0, 8));
      }
      const priorities = inputs.map((i) => i[8] as number);
      expect(new Set(priorities).size).toBe(20);
    }
  });

  it('draws priorities uniformly in [-1, 1) and balanced bits', () => {
    const batch = task.sample(new Rng(53), 500);
    const priorities: number[] = [];
    let ones = 0;
    for (let b = 0; b < 500; b++) {
      for (let t = 0; t < 20; t++) {
        const input = inputAt(batch, b, t);
        priorities.push(input[8] as number);
        ones += input.slice(0, 8).reduce((a, v) => a + v, 0);
      }
    }
    expect(Math.min(...priorities)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...priorities)).toBeLessThan(1);
    const mean = priorities.reduce((a, p) => a + p, 0) / priorities.length;
    const variance = priorities.reduce((a, p) => a + (p - mean) ** 2, 0) / priorities.length;
    expect(Math.abs(mean)).toBeLessThan(4 * Math.sqrt(1 / 3 / priorities.length));
    expect(variance).toBeCloseTo(1 / 3, 2);
    const bits = 500 * 20 * 8;
    expect(Math.abs(ones / bits - 0.5)).toBeLessThan(4 * Math.sqrt(0.25 / bits));
  });

  it('keeps the output ratio in its variants and rejects outputs > vectors', () => {
    expect(task.variant('vectors-40').params).toMatchObject({ vectors: 40, outputs: 32 });
    expect(() => createTask('priority-sort', { outputs: 21 })).toThrow(
      'priority-sort: outputs (21) must be <= vectors (20)',
    );
  });
});
