import * as tf from '@tensorflow/tfjs';
import { checkShape } from '@mann/core';

/**
 * Write weighting (docs/spec.md section 3 step 4): `w^w = g^w (g^a a + (1 - g^a) c^w)` per write head.
 *
 * @param allocation - a_t, [B, Hw, N]
 * @param content - c^w_t = C(M_{t-1}, k^w, beta^w), [B, Hw, N]
 * @param allocationGates - g^a, [B, Hw]
 * @param writeGates - g^w, [B, Hw]
 * @returns w^w_t, [B, Hw, N]; each row sums to at most 1
 */
export function writeWeighting(
  allocation: tf.Tensor3D,
  content: tf.Tensor3D,
  allocationGates: tf.Tensor2D,
  writeGates: tf.Tensor2D,
): tf.Tensor3D {
  checkShape('allocation', allocation, [null, null, null], '[B, Hw, N]');
  checkShape('content', content, allocation.shape, '[B, Hw, N]');
  checkShape(
    'allocationGates',
    allocationGates,
    [allocation.shape[0], allocation.shape[1]],
    '[B, Hw]',
  );
  checkShape('writeGates', writeGates, allocationGates.shape, '[B, Hw]');
  return tf.tidy(() => {
    const ga = allocationGates.expandDims(2);
    const mixed = tf.add(content, tf.mul(ga, tf.sub(allocation, content)));
    return tf.mul(writeGates.expandDims(2), mixed) as tf.Tensor3D;
  });
}

/**
 * Erase then write (docs/spec.md section 3 step 5): `M_t = M_{t-1} * prod_h (E - w_h e_h^T) + sum_h w_h v_h^T`
 * (with several write heads all erases come before the adds, as deepmind/dnc). With
 * `retention` (DNC-MD deallocation) the freed slots are also wiped:
 * `M_t = M_{t-1} * (psi 1^T) * (E - w e^T) + w v^T`.
 *
 * @param memory - M_{t-1}, [B, N, W]
 * @param writeWeights - w^w_t, [B, Hw, N]
 * @param eraseVectors - e_t in [0, 1], [B, Hw, W]
 * @param writeVectors - v_t, [B, Hw, W]
 * @param retention - psi_t, [B, N], DNC-MD deallocation only
 * @returns M_t, [B, N, W]
 */
export function eraseAndWrite(
  memory: tf.Tensor3D,
  writeWeights: tf.Tensor3D,
  eraseVectors: tf.Tensor3D,
  writeVectors: tf.Tensor3D,
  retention?: tf.Tensor2D,
): tf.Tensor3D {
  checkShape('memory', memory, [null, null, null], '[B, N, W]');
  const [batch, slots, width] = memory.shape;
  checkShape('writeWeights', writeWeights, [batch, null, slots], '[B, Hw, N]');
  const heads = writeWeights.shape[1];
  checkShape('eraseVectors', eraseVectors, [batch, heads, width], '[B, Hw, W]');
  checkShape('writeVectors', writeVectors, [batch, heads, width], '[B, Hw, W]');
  if (retention) checkShape('retention', retention, [batch, slots], '[B, N]');
  return tf.tidy(() => {
    const keep =
      heads === 1
        ? tf.sub(1, tf.matMul(writeWeights, eraseVectors, true, false)) // [B, N, W]
        : tf.prod(tf.sub(1, tf.mul(writeWeights.expandDims(3), eraseVectors.expandDims(2))), 1);
    const kept = tf.mul(retention ? tf.mul(memory, retention.expandDims(2)) : memory, keep);
    return tf.add(kept, tf.matMul(writeWeights, writeVectors, true, false)) as tf.Tensor3D;
  });
}
