import * as tf from '@tensorflow/tfjs';
import { checkShape } from '@mann/core';

/**
 * Reading (Graves et al. 2014, eq. 2), all heads in one matMul: `r_h = sum_i w_h[i] M[i]`.
 *
 * @param memory - M, [B, N, W]
 * @param weights - w, one weighting per read head, [B, H, N]
 * @returns r, one read vector per head, [B, H, W]
 */
export function readMemory(memory: tf.Tensor3D, weights: tf.Tensor3D): tf.Tensor3D {
  checkShape('memory', memory, [null, null, null], '[B, N, W]');
  checkShape('weights', weights, [memory.shape[0], null, memory.shape[1]], '[B, H, N]');
  return tf.matMul(weights, memory);
}

/**
 * Writing (eqs. 3-4) with any number of write heads: all heads' erases first, then all
 * heads' adds,
 * `M'[i] = M[i] * prod_h (1 - w_h[i] e_h) + sum_h w_h[i] a_h`.
 * The erase product runs over the heads in order (the factors commute, so the order does not
 * change the value); the adds are one matMul, `w^T a`. With zero heads M is returned as is.
 *
 * @param memory - M_{t-1}, [B, N, W]
 * @param weights - w, one weighting per write head, [B, H, N]
 * @param erase - e in [0, 1], one erase vector per head, [B, H, W]
 * @param add - a, one add vector per head, [B, H, W]
 * @returns M_t, [B, N, W]
 */
export function writeMemory(
  memory: tf.Tensor3D,
  weights: tf.Tensor3D,
  erase: tf.Tensor3D,
  add: tf.Tensor3D,
): tf.Tensor3D {
  checkShape('memory', memory, [null, null, null], '[B, N, W]');
  const [batch, slots, width] = memory.shape;
  checkShape('weights', weights, [batch, null, slots], '[B, H, N]');
  const heads = weights.shape[1];
  checkShape('erase', erase, [batch, heads, width], '[B, H, W]');
  checkShape('add', add, [batch, heads, width], '[B, H, W]');
  if (heads === 0) return tf.clone(memory);
  return tf.tidy(() => {
    // 1 - w_h e_h^T for every head at once: [B, H, N, W]
    const retain = tf.sub(1, tf.mul(tf.expandDims(weights, 3), tf.expandDims(erase, 2)));
    let kept: tf.Tensor = memory;
    for (let h = 0; h < heads; h++) {
      // slice, not unstack: tf.unstack's gradient fails when one of its outputs gets none
      const factor = tf.slice(retain, [0, h, 0, 0], [batch, 1, slots, width]);
      kept = tf.mul(kept, tf.reshape(factor, [batch, slots, width]));
    }
    return tf.add(kept, tf.matMul(weights, add, true, false)) as tf.Tensor3D;
  });
}
