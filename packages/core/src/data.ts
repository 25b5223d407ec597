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

/** Checks that the arrays of a batch have the sizes its header claims. */
export function validateBatch(batch: SequenceBatch): void {
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
