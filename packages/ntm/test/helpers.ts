import * as tf from '@tensorflow/tfjs';
import { Rng } from '@mann/core';

/**
 * A scalar loss that weighs every element of `x` differently (fixed random weights from
 * `seed`), so a gradient check sees every output element, not just their sum (the sum of a
 * distribution is constant and has zero gradient).
 */
export function weightedSum(x: tf.Tensor, seed = 1): tf.Scalar {
  const rng = new Rng(seed);
  const weights = tf.tensor(
    rng.fill(x.size, (r) => r.uniformIn(-1, 1)),
    x.shape,
  );
  return tf.sum(tf.mul(x, weights));
}

/** A short description of a failed gradient check. */
export function describeCheck(result: { worst: unknown; checked: number }): string {
  return `${result.checked} checked, worst ${JSON.stringify(result.worst)}`;
}
