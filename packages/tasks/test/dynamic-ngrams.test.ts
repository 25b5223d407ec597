import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import { bayesOptimalNgram, contextIndex, createTask } from '../src/index.js';
import type { DynamicNgramBatch } from '../src/index.js';
import { answerSteps, inputAt, targetAt } from './helpers.js';

/** The bits x_0..x_{n-1} of sequence b: every input, then the last target. */
function bitsOf(batch: DynamicNgramBatch, b: number): number[] {
  const bits = Array.from({ length: batch.steps }, (_, t) => inputAt(batch, b, t)[0] as number);
  bits.push(targetAt(batch, b, batch.steps - 1)[0] as number);
  return bits;
}

/**
 * Brute-force Bayes-optimal cost: for each predicted bit, rescan the whole prefix and count how
 * often the same 5-bit context was followed by 0 and by 1.
 */
function bruteForceOptimalBits(bits: readonly number[], c: number): number {
  let cost = 0;
  for (let t = c; t < bits.length; t++) {
    const context = bits.slice(t - c, t).join('');
    let n0 = 0;
    let n1 = 0;
    for (let s = c; s < t; s++) {
      if (bits.slice(s - c, s).join('') !== context) continue;
      if (bits[s] === 1) n1++;
      else n0++;
    }
    const p1 = (n1 + 0.5) / (n0 + n1 + 1);
    cost -= Math.log2(bits[t] === 1 ? p1 : 1 - p1);
  }
  return cost;
}

describe('dynamic-ngrams', () => {
  const task = createTask('dynamic-ngrams');

  it('has one input and one output channel and T = 5 + 200 - 1 steps', () => {
    const batch = task.sample(new Rng(41), 2);
    expect([task.inputWidth, task.outputWidth, batch.steps]).toEqual([1, 1, 204]);
  });

  it('masks the 200 steps whose target has a full 5-bit context; the target is the next input', () => {
    const batch = task.sample(new Rng(42), 3);
    for (let b = 0; b < 3; b++) {
      expect(answerSteps(batch, b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 4));
      for (let t = 4; t < batch.steps - 1; t++) {
        expect(targetAt(batch, b, t)[0]).toBe(inputAt(batch, b, t + 1)[0]);
      }
    }
  });

  it('computes the exact Bayes-optimal cost (matches a brute-force count)', () => {
    const batch = task.sample(new Rng(43), 4);
    for (let b = 0; b < 4; b++) {
      const bits = bitsOf(batch, b);
      const expected = bruteForceOptimalBits(bits, 5);
      expect(batch.optimalBits[b]).toBeCloseTo(expected, 9);
      expect(bayesOptimalNgram(bits, 5).bits).toBeCloseTo(expected, 9);
    }
  });

  it('reports optimalBitsPerSequence and a gap of ~0 for the optimal predictions', () => {
    const batch = task.sample(new Rng(44), 8);
    const scores = task.score(batch.optimalPredictions, batch);
    const mean = batch.optimalBits.reduce((a, b) => a + b, 0) / 8;
    expect(scores.optimalBitsPerSequence).toBeCloseTo(mean, 9);
    expect(scores.bitsPerSequence).toBeCloseTo(mean, 3); // float32 predictions
    expect(Math.abs(scores.gapToOptimal as number)).toBeLessThan(1e-3);
    const coin = task.score(new Float32Array(batch.targets.length).fill(0.5), batch);
    expect(coin.bitsPerSequence).toBeCloseTo(200, 9);
    expect(coin.gapToOptimal).toBeCloseTo(200 - mean, 9);
  });

  it('averages an optimum near the NTM paper (~131 bits per sequence)', () => {
    const batch = task.sample(new Rng(45), 400);
    const mean = batch.optimalBits.reduce((a, b) => a + b, 0) / 400;
    expect(mean).toBeGreaterThan(128);
    expect(mean).toBeLessThan(134);
  });

  it('draws each next bit from the sequence table entry of its context', () => {
    // With one 200-bit sequence per table the check is statistical: the fraction of ones after
    // each context, pooled over sequences by table probability, follows the probability.
    const batch = task.sample(new Rng(46), 300);
    const bins = Array.from({ length: 5 }, () => ({ ones: 0, total: 0, p: 0 }));
    for (let b = 0; b < 300; b++) {
      const bits = bitsOf(batch, b);
      for (let t = 5; t < bits.length; t++) {
        const p = batch.tables[b * 32 + contextIndex(bits, t, 5)] as number;
        const bin = bins[Math.min(4, Math.floor(p * 5))]!;
        bin.ones += bits[t] as number;
        bin.total++;
        bin.p += p;
      }
    }
    for (const bin of bins) {
      const expected = bin.p / bin.total;
      expect(Math.abs(bin.ones / bin.total - expected)).toBeLessThan(
        4 * Math.sqrt(0.25 / bin.total),
      );
    }
  });

  it('draws table probabilities from Beta(1/2, 1/2) (mean 1/2, variance 1/8)', () => {
    const { tables } = task.sample(new Rng(47), 300);
    const mean = tables.reduce((a, b) => a + b, 0) / tables.length;
    const variance = tables.reduce((a, p) => a + (p - mean) ** 2, 0) / tables.length;
    expect(mean).toBeCloseTo(0.5, 1);
    expect(variance).toBeCloseTo(1 / 8, 2);
  });

  it('refuses to score a batch without the optimal costs', () => {
    const batch = task.sample(new Rng(48), 1);
    const { optimalBits: _drop, ...plain } = batch;
    expect(() => task.score(batch.targets, plain as DynamicNgramBatch)).toThrow(
      /scores only batches it sampled/,
    );
  });

  it('matches contextIndex to the binary reading of the context, oldest bit first', () => {
    expect(contextIndex([1, 0, 0, 1, 1, 0], 5, 5)).toBe(0b10011);
    expect(contextIndex([1, 0, 0, 1, 1, 0], 6, 5)).toBe(0b00110);
  });
});
