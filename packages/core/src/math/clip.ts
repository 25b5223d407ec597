import * as tf from '@tensorflow/tfjs';
import { checkNumber } from '../errors.js';

/** A map from parameter name to its gradient (or any named tensors). */
export type NamedTensors = Record<string, tf.Tensor>;

/** `sqrt(sum over all tensors of sum g^2)`, a scalar. */
export function globalNorm(gradients: NamedTensors): tf.Scalar {
  return tf.tidy(() => {
    const squares = Object.values(gradients).map((g) => tf.sum(tf.square(g)));
    return tf.sqrt(squares.length ? tf.addN(squares) : tf.scalar(0)) as tf.Scalar;
  });
}

/**
 * Global-norm gradient clipping: if `||g|| = sqrt(sum over all tensors of sum g^2)` exceeds
 * `maxNorm`, every gradient is scaled by `maxNorm / ||g||` (as tf.clip_by_global_norm).
 * Returns new tensors (the caller disposes the inputs) and the norm before clipping.
 * `maxNorm = Infinity` only measures the norm (gradients are returned unscaled).
 */
export function clipByGlobalNorm(
  gradients: NamedTensors,
  maxNorm: number,
): { gradients: NamedTensors; globalNorm: tf.Scalar } {
  if (maxNorm !== Infinity) checkNumber('maxNorm', maxNorm, Number.MIN_VALUE);
  return tf.tidy(() => {
    const names = Object.keys(gradients);
    const norm = globalNorm(gradients);
    const scale = maxNorm === Infinity ? tf.scalar(1) : tf.div(maxNorm, tf.maximum(norm, maxNorm));
    const clipped: NamedTensors = {};
    for (const n of names) clipped[n] = tf.mul(gradients[n] as tf.Tensor, scale);
    return { gradients: clipped, globalNorm: norm };
  });
}

/** Element-wise gradient clipping to [-limit, limit] (the NTM paper clips to [-10, 10]). */
export function clipByValue(gradients: NamedTensors, limit: number): NamedTensors {
  checkNumber('limit', limit, Number.MIN_VALUE);
  return tf.tidy(() => {
    const clipped: NamedTensors = {};
    for (const [n, g] of Object.entries(gradients)) clipped[n] = tf.clipByValue(g, -limit, limit);
    return clipped;
  });
}

/**
 * The clipping of the Trainer on one flat array of gradients, in place: element-wise to
 * [-clipValue, clipValue] when `clipValue` > 0, then to global norm `clipNorm` when it is > 0
 * (scaled by `clipNorm / ||g||` when the norm exceeds it). Norms are summed in float64. Returns
 * the norm of the gradients as given (before any clipping), as {@link clipByGlobalNorm} reports.
 * `sumOfSquares`, when given, is that of `values` as given, summed the same way (in float64, in
 * index order), and spares a pass over them.
 */
export function clipFlatGradients(
  values: Float32Array,
  clipValue: number,
  clipNorm: number,
  sumOfSquares?: number,
): number {
  const norm = (): number => {
    let sum = 0;
    for (let i = 0; i < values.length; i++) sum += (values[i] as number) * (values[i] as number);
    return Math.sqrt(sum);
  };
  const raw = sumOfSquares === undefined ? norm() : Math.sqrt(sumOfSquares);
  if (clipValue > 0) {
    for (let i = 0; i < values.length; i++) {
      values[i] = Math.min(clipValue, Math.max(-clipValue, values[i] as number));
    }
  }
  if (clipNorm > 0) {
    const current = clipValue > 0 ? norm() : raw;
    if (current > clipNorm) {
      const scale = clipNorm / current;
      for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) * scale;
    }
  }
  return raw;
}
