import * as tf from '@tensorflow/tfjs';
import { checkShape, customGradient } from '@mann/core';

// psi = prod_r (1 - f_r x_r) as one op: with q_r = 1 - f_r x_r and P_r = prod_{s != r} q_s
// (exclusive products from both ends, exact when some q is 0),
//   dL/df_r = -sum_i dpsi_i P_r,i x_r,i      dL/dx_r = -dpsi P_r f_r
const retentionOp = customGradient<[tf.Tensor, tf.Tensor]>(([gates, weights], save) => {
  const f = gates.expandDims(2);
  const factors = tf.sub(1, tf.mul(f, weights)); // [B, R, N]
  save([f, weights, factors]);
  return {
    value: tf.prod(factors, 1),
    gradFunc: (dy, saved) => {
      const [g, x, q] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      const others = tf.mul(tf.cumprod(q, 1, true), tf.cumprod(q, 1, true, true));
      const dFactors = tf.neg(tf.mul(dy.expandDims(1), others)); // dL/d(f x)
      return [tf.sum(tf.mul(dFactors, x), 2), tf.mul(dFactors, g)];
    },
  };
});

/**
 * Retention psi_t = prod_r (1 - f_r w^r_{t-1}): how much of each slot survives the free gates
 * (DNC paper, methods, "dynamic memory allocation"; docs/spec.md section 3 step 1).
 *
 * @param freeGates - f_t, one per read head in [0, 1], [B, R]
 * @param prevReadWeights - w^r_{t-1}, [B, R, N]
 * @returns psi_t, [B, N], in [0, 1]
 */
export function retentionVector(freeGates: tf.Tensor2D, prevReadWeights: tf.Tensor3D): tf.Tensor2D {
  checkShape('prevReadWeights', prevReadWeights, [null, null, null], '[B, R, N]');
  const [batch, heads] = prevReadWeights.shape;
  checkShape('freeGates', freeGates, [batch, heads], '[B, R]');
  return retentionOp(freeGates, prevReadWeights) as tf.Tensor2D;
}

// u + w - u w with w = 1 - prod_h (1 - w_h) as one op: dL/du = dy (1 - w), and no gradient
// for the write weights (see usageAfterWrite).
const usageAfterWriteOp = customGradient<[tf.Tensor, tf.Tensor]>(([usage, writeWeights], save) => {
  const unwritten = tf.prod(tf.sub(1, writeWeights), 1); // 1 - w
  save([unwritten]);
  return {
    value: tf.sub(1, tf.mul(tf.sub(1, usage), unwritten)), // u + w - u w = 1 - (1 - u)(1 - w)
    gradFunc: (dy, saved) => [tf.mul(dy, saved[0] as tf.Tensor), tf.zeros(writeWeights.shape)],
  };
});

/**
 * Usage after the previous step's writes, `u + w - u * w` with `w = 1 - prod_h (1 - w^w_h)`
 * over the write heads. The gradient is stopped through w^w_{t-1}, as deepmind/dnc does: usage
 * is bookkeeping, and letting it train the previous write weighting destabilises learning.
 *
 * @param prevUsage - u_{t-1}, [B, N]
 * @param prevWriteWeights - w^w_{t-1}, [B, Hw, N]
 * @returns [B, N]
 */
export function usageAfterWrite(
  prevUsage: tf.Tensor2D,
  prevWriteWeights: tf.Tensor3D,
): tf.Tensor2D {
  checkShape('prevUsage', prevUsage, [null, null], '[B, N]');
  const [batch, slots] = prevUsage.shape;
  checkShape('prevWriteWeights', prevWriteWeights, [batch, null, slots], '[B, Hw, N]');
  return usageAfterWriteOp(prevUsage, prevWriteWeights) as tf.Tensor2D;
}

/**
 * Memory usage u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} * w^w_{t-1}) * psi_t (docs/spec.md section 3,
 * steps 1-2; DNC paper eq. for u_t). With several write heads w^w = 1 - prod_h (1 - w^w_h).
 * No gradient flows into `prevWriteWeights` (see {@link usageAfterWrite}).
 *
 * @param prevUsage - u_{t-1}, [B, N], in [0, 1]
 * @param prevWriteWeights - w^w_{t-1}, [B, Hw, N]
 * @param freeGates - f_t, [B, R]
 * @param prevReadWeights - w^r_{t-1}, [B, R, N]
 * @returns u_t, [B, N], in [0, 1]
 */
export function updateUsage(
  prevUsage: tf.Tensor2D,
  prevWriteWeights: tf.Tensor3D,
  freeGates: tf.Tensor2D,
  prevReadWeights: tf.Tensor3D,
): tf.Tensor2D {
  checkShape(
    'prevReadWeights',
    prevReadWeights,
    [prevUsage.shape[0] ?? null, null, prevUsage.shape[1] ?? null],
    '[B, R, N]',
  );
  return tf.tidy(() =>
    tf.mul(
      usageAfterWrite(prevUsage, prevWriteWeights),
      retentionVector(freeGates, prevReadWeights),
    ),
  );
}
