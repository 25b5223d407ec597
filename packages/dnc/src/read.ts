import * as tf from '@tensorflow/tfjs';
import { checkShape } from '@mann/core';

/**
 * Read weighting (docs/spec.md section 3 step 7): `w^r = sum_h pi_b[h] b_h + pi_c c^r + sum_h pi_f[h] f_h`.
 *
 * @param content - c^r_t = C(M_t, k^r, beta^r), [B, R, N]
 * @param backward - b_t, [B, R, Hw, N]
 * @param forward - f_t, [B, R, Hw, N]
 * @param readModes - pi_t, [B, R, 1 + 2 Hw]: backward (Hw), content, forward (Hw)
 * @returns w^r_t, [B, R, N]; each row sums to at most 1
 */
export function readWeighting(
  content: tf.Tensor3D,
  backward: tf.Tensor4D,
  forward: tf.Tensor4D,
  readModes: tf.Tensor3D,
): tf.Tensor3D {
  checkShape('content', content, [null, null, null], '[B, R, N]');
  const [batch, reads, slots] = content.shape;
  checkShape('backward', backward, [batch, reads, null, slots], '[B, R, Hw, N]');
  checkShape('forward', forward, backward.shape, '[B, R, Hw, N]');
  const modes = 1 + 2 * (backward.shape[2] as number);
  checkShape('readModes', readModes, [batch, reads, modes], '[B, R, 1 + 2 Hw]');
  return tf.tidy(() => {
    // [B R, 1, modes] x [B R, modes, N]: one matMul mixes every mode of every head.
    const stacked = tf
      .concat([backward, content.expandDims(2), forward], 2)
      .reshape([batch * reads, modes, slots]);
    return tf
      .matMul(readModes.reshape([batch * reads, 1, modes]), stacked)
      .reshape([batch, reads, slots]) as tf.Tensor3D;
  });
}

/**
 * Read vectors r = M_t^T w^r (docs/spec.md section 3 step 8).
 *
 * @param memory - M_t, [B, N, W]
 * @param readWeights - w^r_t, [B, R, N]
 * @returns [B, R, W]
 */
export function readVectors(memory: tf.Tensor3D, readWeights: tf.Tensor3D): tf.Tensor3D {
  checkShape('memory', memory, [null, null, null], '[B, N, W]');
  checkShape('readWeights', readWeights, [memory.shape[0], null, memory.shape[1]], '[B, R, N]');
  return tf.matMul(readWeights, memory);
}
