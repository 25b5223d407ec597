import * as tf from '@tensorflow/tfjs';
import { MannError } from './errors.js';

/**
 * A batch of sequences as plain row-major Float32Arrays (no tensors, so nothing to dispose,
 * and it can cross a worker boundary). Sequences of different lengths share one `steps` length;
 * `mask` marks the answer steps that count in the loss and the metrics.
 */
export interface SequenceBatch {
  /** B */
  readonly batchSize: number;
  /** T, time steps (the longest sequence; shorter ones are padded with zeros). */
  readonly steps: number;
  /** Input channels per step. */
  readonly inputWidth: number;
  /** Output channels per step. */
  readonly outputWidth: number;
  /** [B, T, inputWidth] */
  readonly inputs: Float32Array;
  /** [B, T, outputWidth], binary (0/1) for the papers' tasks */
  readonly targets: Float32Array;
  /** [B, T], 1 on answer steps, 0 elsewhere */
  readonly mask: Float32Array;
}

/** Tensors of a {@link SequenceBatch}; the caller disposes them. */
export interface BatchTensors {
  /** [B, T, inputWidth] */
  readonly inputs: tf.Tensor3D;
  /** [B, T, outputWidth] */
  readonly targets: tf.Tensor3D;
  /** [B, T] */
  readonly mask: tf.Tensor2D;
}

const describe = (value: unknown): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'an Array'
      : typeof value === 'object'
        ? `an instance of ${(value as object).constructor?.name ?? 'Object'}`
        : `${typeof value} ${String(value)}`;

/**
 * Checks a batch: an object whose arrays are Float32Arrays of the sizes its header claims, with
 * targets and mask in [0, 1] (inputs are not checked: a non-finite input is the trainer's
 * NaN guard's business). Errors name the field and what was expected.
 */
export function validateBatch(batch: SequenceBatch): void {
  if (batch === null || typeof batch !== 'object') {
    throw new MannError(
      `batch must be a SequenceBatch { batchSize, steps, inputWidth, outputWidth, inputs, targets, mask }, got ${describe(batch)}`,
    );
  }
  for (const key of ['batchSize', 'steps', 'inputWidth', 'outputWidth'] as const) {
    const n = batch[key];
    if (!Number.isInteger(n) || n < 1) {
      throw new MannError(`batch.${key} must be an integer >= 1, got ${describe(n)}`);
    }
  }
  for (const key of ['inputs', 'targets', 'mask'] as const) {
    if (!(batch[key] instanceof Float32Array)) {
      throw new MannError(`batch.${key} must be a Float32Array, got ${describe(batch[key])}`);
    }
  }
  const { batchSize: b, steps: t, inputWidth: i, outputWidth: o } = batch;
  const expect = (name: string, actual: number, wanted: number): void => {
    if (actual !== wanted) {
      throw new MannError(
        `batch.${name} has ${actual} values, expected ${wanted} for B=${b}, T=${t}`,
      );
    }
  };
  expect('inputs', batch.inputs.length, b * t * i);
  expect('targets', batch.targets.length, b * t * o);
  expect('mask', batch.mask.length, b * t);
  checkRange('targets', batch.targets, 0, 1);
  checkRange('mask', batch.mask, 0, 1);
}

/**
 * Throws unless every value of `batch.<name>` is in [low, high]. (A function of its own, not a
 * closure made per call: V8 optimised the new closures afresh, ~10 times in 120 steps.)
 */
function checkRange(name: string, values: Float32Array, low: number, high: number): void {
  for (let k = 0; k < values.length; k++) {
    const v = values[k] as number;
    if (!(v >= low && v <= high)) {
      throw new MannError(
        `batch.${name} must hold values in [${low}, ${high}], got ${v} at index ${k}`,
      );
    }
  }
}

/** Uploads a {@link SequenceBatch} as tensors. */
export function batchTensors(batch: SequenceBatch): BatchTensors {
  validateBatch(batch);
  const { batchSize: b, steps: t } = batch;
  return {
    inputs: tf.tensor3d(batch.inputs, [b, t, batch.inputWidth]),
    targets: tf.tensor3d(batch.targets, [b, t, batch.outputWidth]),
    mask: tf.tensor2d(batch.mask, [b, t]),
  };
}
