import * as tf from '@tensorflow/tfjs';
import { checkShape } from '@mann/core';
import { withoutGradient } from './ops.js';

/** eps of the sharpening `S(d, s)`, as Csordas & Schmidhuber's implementation. */
export const SHARPNESS_EPSILON = 1e-6;

/**
 * DNC-MD link-distribution sharpness (Csordas & Schmidhuber 2019):
 * `S(d, s)[i] = ((d[i] + eps) / max(d + eps))^s`, normalised to sum 1 over the slots. Dividing
 * by the maximum keeps the power in range; S does not depend on that scale, so the maximum
 * carries no gradient (stopping it is exact).
 *
 * @param weights - forward or backward weightings d, [B, R, Hw, N], entries >= 0
 * @param sharpness - s >= 1 per read head (oneplus of an interface unit), [B, R]
 * @returns [B, R, Hw, N]; each row sums to 1
 */
export function sharpenLinkWeights(weights: tf.Tensor4D, sharpness: tf.Tensor2D): tf.Tensor4D {
  checkShape('weights', weights, [null, null, null, null], '[B, R, Hw, N]');
  checkShape('sharpness', sharpness, [weights.shape[0], weights.shape[1]], '[B, R]');
  return tf.tidy(() => {
    const shifted = tf.add(weights, SHARPNESS_EPSILON);
    const scaled = tf.div(
      shifted,
      withoutGradient((d) => tf.max(d, 3, true), shifted),
    );
    const powered = tf.pow(scaled, sharpness.reshape([...sharpness.shape, 1, 1]));
    return tf.div(powered, tf.sum(powered, 3, true)) as tf.Tensor4D;
  });
}
