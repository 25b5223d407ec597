import * as tf from '@tensorflow/tfjs';
import type { SequenceBatch } from '../data.js';
import { checkShape } from '../errors.js';

/**
 * Masked sigmoid cross-entropy in bits per sequence: the binary cross-entropy summed over the
 * masked target bits of each sequence, converted from nats to bits (/ ln 2), averaged over the
 * batch (docs/spec.md section 4). Computed from logits, stably: max(z, 0) - z y + log(1 + e^-|z|).
 *
 * @param logits - [B, T, O]
 * @param targets - [B, T, O]
 * @param mask - [B, T]
 * @returns scalar, bits per sequence
 */
export function maskedBitsPerSequence(
  logits: tf.Tensor3D,
  targets: tf.Tensor3D,
  mask: tf.Tensor2D,
): tf.Scalar {
  checkShape('targets', targets, logits.shape, '[B, T, O] like logits');
  checkShape('mask', mask, [logits.shape[0], logits.shape[1]], '[B, T]');
  return tf.tidy(() => {
    const perBit = tf.add(
      tf.sub(tf.relu(logits), tf.mul(logits, targets)),
      tf.log1p(tf.exp(tf.neg(tf.abs(logits)))),
    );
    const perStep = tf.sum(perBit, -1); // [B, T]
    const total = tf.sum(tf.mul(perStep, mask));
    return tf.div(total, logits.shape[0] * Math.LN2) as tf.Scalar;
  });
}

/** Numbers from scoring a batch: everything is per sequence, averaged over the batch. */
export interface SequenceScores {
  /** Masked cross-entropy, bits per sequence. */
  readonly bitsPerSequence: number;
  /** Masked bits whose thresholded output (0.5) differs from the target, per sequence. */
  readonly bitErrorsPerSequence: number;
  /** Fraction of sequences with no bit error on any answer step. */
  readonly sequenceAccuracy: number;
}

/**
 * Scores sigmoid probabilities (not logits) against a batch's targets on the masked steps.
 * Plain-array version for evaluation and tests (`probabilities` is [B, T, O] row-major).
 */
export function scoreSequences(probabilities: Float32Array, batch: SequenceBatch): SequenceScores {
  const { batchSize: b, steps: t, outputWidth: o } = batch;
  if (probabilities.length !== b * t * o) {
    throw new Error(`probabilities has ${probabilities.length} values, expected ${b * t * o}`);
  }
  let bits = 0;
  let errors = 0;
  let perfect = 0;
  const floor = 1e-12;
  for (let s = 0; s < b; s++) {
    let sequenceErrors = 0;
    for (let step = 0; step < t; step++) {
      if (batch.mask[s * t + step] === 0) continue;
      const weight = batch.mask[s * t + step] as number;
      for (let k = 0; k < o; k++) {
        const i = (s * t + step) * o + k;
        const p = probabilities[i] as number;
        const y = batch.targets[i] as number;
        bits -=
          weight *
          (y * Math.log2(Math.max(p, floor)) + (1 - y) * Math.log2(Math.max(1 - p, floor)));
        if ((p >= 0.5 ? 1 : 0) !== (y >= 0.5 ? 1 : 0)) sequenceErrors++;
      }
    }
    errors += sequenceErrors;
    if (sequenceErrors === 0) perfect++;
  }
  return {
    bitsPerSequence: bits / b,
    bitErrorsPerSequence: errors / b,
    sequenceAccuracy: perfect / b,
  };
}
