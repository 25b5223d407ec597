import { MannError } from '@mann/core';
import type { Rng, SequenceBatch } from '@mann/core';

/**
 * Zero-filled arrays of a {@link SequenceBatch} with setters by (sequence, step, channel), so a task
 * writes its layout without index arithmetic. Internal to the package.
 */
export class BatchWriter {
  readonly inputs: Float32Array;
  readonly targets: Float32Array;
  readonly mask: Float32Array;

  constructor(
    readonly batchSize: number,
    readonly steps: number,
    readonly inputWidth: number,
    readonly outputWidth: number,
  ) {
    this.inputs = new Float32Array(batchSize * steps * inputWidth);
    this.targets = new Float32Array(batchSize * steps * outputWidth);
    this.mask = new Float32Array(batchSize * steps);
  }

  /** inputs[sequence, step, channel] = value */
  input(sequence: number, step: number, channel: number, value = 1): void {
    this.inputs[(sequence * this.steps + step) * this.inputWidth + channel] = value;
  }

  /** Copies `values` into inputs[sequence, step, offset ...]. */
  inputVector(sequence: number, step: number, values: ArrayLike<number>, offset = 0): void {
    this.inputs.set(values, (sequence * this.steps + step) * this.inputWidth + offset);
  }

  /** targets[sequence, step, channel] = value */
  target(sequence: number, step: number, channel: number, value = 1): void {
    this.targets[(sequence * this.steps + step) * this.outputWidth + channel] = value;
  }

  /** Copies `values` into targets[sequence, step, offset ...]. */
  targetVector(sequence: number, step: number, values: ArrayLike<number>, offset = 0): void {
    this.targets.set(values, (sequence * this.steps + step) * this.outputWidth + offset);
  }

  /** mask[sequence, step] = 1: this step counts in the loss and the metrics. */
  answer(sequence: number, step: number): void {
    this.mask[sequence * this.steps + step] = 1;
  }

  /** The finished batch (the arrays are handed over, not copied). */
  build(): SequenceBatch {
    return {
      batchSize: this.batchSize,
      steps: this.steps,
      inputWidth: this.inputWidth,
      outputWidth: this.outputWidth,
      inputs: this.inputs,
      targets: this.targets,
      mask: this.mask,
    };
  }
}

/** `count` fair random bits (0/1). */
export function randomBits(rng: Rng, count: number): Float32Array {
  return rng.fill(count, (r) => r.bernoulli(0.5));
}

/** Index of the largest of `values[offset .. offset + length)`, relative to `offset`. */
export function argmax(values: ArrayLike<number>, offset: number, length: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = values[offset + i] as number;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** The largest of `values` (no spread, so any length works); -Infinity when empty. */
export function maxOf(values: readonly number[]): number {
  let best = -Infinity;
  for (const v of values) if (v > best) best = v;
  return best;
}

/** Throws a {@link MannError} unless `low <= high`: `task: lowName (low) must be <= highName (high)`. */
export function checkOrdered(
  task: string,
  lowName: string,
  low: number,
  highName: string,
  high: number,
): void {
  if (low > high) {
    throw new MannError(`${task}: ${lowName} (${low}) must be <= ${highName} (${high})`);
  }
}
