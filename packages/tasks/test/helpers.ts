import { fileURLToPath } from 'node:url';
import type { SequenceBatch } from '@mann/core';

/** inputs[b, t, :] as a plain array. */
export function inputAt(batch: SequenceBatch, b: number, t: number): number[] {
  const start = (b * batch.steps + t) * batch.inputWidth;
  return [...batch.inputs.subarray(start, start + batch.inputWidth)];
}

/** targets[b, t, :] as a plain array. */
export function targetAt(batch: SequenceBatch, b: number, t: number): number[] {
  const start = (b * batch.steps + t) * batch.outputWidth;
  return [...batch.targets.subarray(start, start + batch.outputWidth)];
}

/** mask[b, t] */
export function maskAt(batch: SequenceBatch, b: number, t: number): number {
  return batch.mask[b * batch.steps + t] as number;
}

/** The masked steps of sequence b. */
export function answerSteps(batch: SequenceBatch, b: number): number[] {
  const steps: number[] = [];
  for (let t = 0; t < batch.steps; t++) if (maskAt(batch, b, t) === 1) steps.push(t);
  return steps;
}

/** Steps of sequence b up to its last non-zero input or masked step (its unpadded length). */
export function usedLength(batch: SequenceBatch, b: number): number {
  let last = -1;
  for (let t = 0; t < batch.steps; t++) {
    if (maskAt(batch, b, t) === 1 || inputAt(batch, b, t).some((v) => v !== 0)) last = t;
  }
  return last + 1;
}

/** Pearson chi-square statistic of `counts` against equal expected counts. */
export function chiSquareUniform(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

/** Upper 0.1% points of chi-square by degrees of freedom (tables). */
export const CHI_SQUARE_999: Readonly<Record<number, number>> = {
  1: 10.83,
  2: 13.82,
  3: 16.27,
  4: 18.47,
  5: 20.52,
  9: 27.88,
  19: 43.82,
};

/** The bAbI fixture folder (holds en/ with tasks 1 and 8 in the standard format). */
export const BABI_FIXTURES = fileURLToPath(new URL('./fixtures/babi', import.meta.url));
