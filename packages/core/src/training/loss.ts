import * as tf from '@tensorflow/tfjs';
import type { SequenceBatch } from '../data.js';
import { checkShape, MannError } from '../errors.js';
import { customGradient } from '../math/custom-gradient.js';

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

/**
 * {@link maskedBitsPerSequence} of `logits` against `batch`'s targets and mask, computed on
 * arrays in float64 and rounded to float32 once, value and gradient: one op where the TF.js
 * version runs 55 kernels (forward, backward and the engine's copies of what it saves), as
 * many at any batch size. It agrees with that version to float32 rounding, not to the bit. The
 * training threads compute each chunk of a batch with it, since every thread pays those kernels
 * for its chunk; one-thread training keeps the TF.js ops, with which the published results were
 * computed. The gradient is sigmoid(z) - y per masked bit, times the step's mask / (B ln 2).
 *
 * @param logits - [B, T, O]
 * @returns scalar, bits per sequence
 */
export function maskedBitsPerSequenceOnArrays(
  logits: tf.Tensor3D,
  batch: SequenceBatch,
): tf.Scalar {
  const { batchSize: b, steps: t, outputWidth: o } = batch;
  checkShape('logits', logits, [b, t, o], "[B, T, O] of the batch's shape");
  const loss = customGradient<[tf.Tensor]>(([z]) => {
    const gradient = new Float32Array(b * t * o);
    const value = maskedBitsOnArrays(z.dataSync() as Float32Array, batch, gradient);
    return {
      value: tf.scalar(value),
      gradFunc: (dy) => {
        const d = dy.dataSync()[0] as number;
        if (d !== 1)
          for (let i = 0; i < gradient.length; i++) gradient[i] = (gradient[i] as number) * d;
        return tf.tensor3d(gradient, [b, t, o]);
      },
    };
  });
  return loss(logits) as tf.Scalar;
}

/**
 * The arithmetic of {@link maskedBitsPerSequenceOnArrays} on arrays: masked bits per sequence of
 * `logits` [B, T, O] (batch first, row-major) against `batch`'s targets and mask, summed in
 * float64 and rounded to float32 once, returned; its gradient written into `gradient` (as many
 * values as `logits`). The training threads' array path calls it directly.
 */
export function maskedBitsOnArrays(
  logits: Float32Array,
  batch: SequenceBatch,
  gradient: Float32Array,
): number {
  const { batchSize: b, steps: t, outputWidth: o, targets, mask } = batch;
  if (logits.length !== b * t * o || gradient.length !== logits.length) {
    throw new MannError(
      `logits and gradient must have ${b * t * o} values (the batch's [${b}, ${t}, ${o}]), got ${logits.length} and ${gradient.length}`,
    );
  }
  const scale = 1 / (b * Math.LN2);
  let total = 0;
  for (let step = 0; step < b * t; step++) {
    const weight = mask[step] as number;
    let bits = 0;
    for (let i = step * o; i < (step + 1) * o; i++) {
      const x = logits[i] as number;
      const y = targets[i] as number;
      const e = Math.exp(-Math.abs(x));
      bits += Math.max(x, 0) - x * y + Math.log1p(e);
      const sigmoid = x >= 0 ? 1 / (1 + e) : e / (1 + e);
      gradient[i] = weight * (sigmoid - y) * scale;
    }
    total += bits * weight;
  }
  return Math.fround(total * scale);
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
