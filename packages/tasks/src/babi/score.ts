import { MannError } from '@mann/core';
import { argmax } from '../batch.js';
import type { BabiBatch } from './encode.js';

/** A task fails when its question error rate is above this (5%, Weston et al. 2015). */
export const BABI_FAILURE_THRESHOLD = 0.05;

/** Question counts and error rate of one bAbI task. */
export interface BabiTaskError {
  readonly task: number;
  readonly questions: number;
  /** Questions with at least one answer word wrong. */
  readonly errors: number;
  /** errors / questions */
  readonly errorRate: number;
}

/** bAbI results: per task, their mean, and the failed-task count. */
export interface BabiErrors {
  /** One entry per task seen, ascending task number. */
  readonly tasks: readonly BabiTaskError[];
  /** Mean of the per-task error rates (the DNC paper's "mean error"). */
  readonly meanErrorRate: number;
  /** Tasks with errorRate > {@link BABI_FAILURE_THRESHOLD}. */
  readonly failedTasks: number;
  /** All questions, all tasks. */
  readonly questions: number;
  readonly errors: number;
}

/**
 * Accumulates bAbI question errors over batches (e.g. the whole test split from
 * {@link babiBatches}). A question is right when, on each of its answer steps, the output channel
 * with the largest value is the answer word (the targets are categorical, so argmax rather than
 * thresholding).
 */
export class BabiErrorCounter {
  private readonly counts = new Map<number, { questions: number; errors: number }>();

  /** Adds one batch: `probabilities` [B, T, V] (any monotone scores, e.g. sigmoid outputs). */
  add(probabilities: Float32Array, batch: BabiBatch): void {
    if (!Array.isArray(batch.questions)) {
      throw new MannError(
        'bAbI errors need a batch from the bAbI task: batch.questions is missing',
      );
    }
    const { steps, outputWidth: v } = batch;
    if (probabilities.length !== batch.batchSize * steps * v) {
      throw new MannError(
        `probabilities has ${probabilities.length} values, expected ${batch.batchSize * steps * v} = [B=${batch.batchSize}, T=${steps}, V=${v}]`,
      );
    }
    for (const q of batch.questions) {
      const wrong = q.steps.some(
        (step: number, i: number) =>
          argmax(probabilities, (q.sequence * steps + step) * v, v) !== q.answers[i],
      );
      const entry = this.counts.get(q.task) ?? { questions: 0, errors: 0 };
      entry.questions++;
      if (wrong) entry.errors++;
      this.counts.set(q.task, entry);
    }
  }

  /** The results so far. */
  result(): BabiErrors {
    const tasks = [...this.counts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([task, c]) => ({ task, ...c, errorRate: c.errors / c.questions }));
    const sum = (f: (t: BabiTaskError) => number): number => tasks.reduce((s, t) => s + f(t), 0);
    return {
      tasks,
      meanErrorRate: tasks.length ? sum((t) => t.errorRate) / tasks.length : 0,
      failedTasks: tasks.filter((t) => t.errorRate > BABI_FAILURE_THRESHOLD).length,
      questions: sum((t) => t.questions),
      errors: sum((t) => t.errors),
    };
  }
}

/** {@link BabiErrors} of one batch (see {@link BabiErrorCounter} for the rule). */
export function babiErrors(probabilities: Float32Array, batch: BabiBatch): BabiErrors {
  const counter = new BabiErrorCounter();
  counter.add(probabilities, batch);
  return counter.result();
}
