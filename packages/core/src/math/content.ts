import * as tf from '@tensorflow/tfjs';
import { checkShape, MannError } from '../errors.js';

/** Stabiliser of the norms and of the cosine denominator (docs/spec.md section 1). */
export const CONTENT_EPSILON = 1e-6;

/**
 * Cosine similarity between each head's key and each memory row:
 * `cos(k, M[i]) = k . M[i] / (|k| |M[i]| + eps)` with `|x| = sqrt(sum x^2 + eps)`.
 * Finite, with finite gradients, when a key or a memory row is all zeros.
 *
 * With `mask` (DNC-MD, Csordas & Schmidhuber 2019) both sides are multiplied by the head's
 * mask first: `cos(k * m, M[i] * m)`.
 *
 * @param memory - M, [B, N, W]
 * @param keys - k, [B, H, W]
 * @param mask - m, [B, H, W] in [0, 1], optional
 * @returns [B, H, N]
 */
export function cosineSimilarity(
  memory: tf.Tensor3D,
  keys: tf.Tensor3D,
  mask?: tf.Tensor3D,
): tf.Tensor3D {
  checkShape('memory', memory, [null, null, null], '[B, N, W]');
  const [batch, , width] = memory.shape;
  checkShape('keys', keys, [batch, null, width], '[B, H, W]');
  if (mask) checkShape('mask', mask, keys.shape, '[B, H, W]');
  return tf.tidy(() => {
    const eps = CONTENT_EPSILON;
    if (!mask) {
      const dot = tf.matMul(keys, memory, false, true); // [B, H, N]
      const keyNorm = tf.sqrt(tf.add(tf.sum(tf.square(keys), -1, true), eps)); // [B, H, 1]
      const rowNorm = tf.sqrt(tf.add(tf.sum(tf.square(memory), -1), eps)).expandDims(1); // [B, 1, N]
      return tf.div(dot, tf.add(tf.mul(keyNorm, rowNorm), eps)) as tf.Tensor3D;
    }
    const maskSquared = tf.square(mask);
    const dot = tf.matMul(tf.mul(keys, maskSquared), memory, false, true); // sum_w k m^2 M
    const keyNorm = tf.sqrt(tf.add(tf.sum(tf.square(tf.mul(keys, mask)), -1, true), eps));
    // |M[i] * m_h|^2 = sum_w m_h[w]^2 M[i, w]^2 for every head h and row i: [B, H, N]
    const rowNorm = tf.sqrt(tf.add(tf.matMul(maskSquared, tf.square(memory), false, true), eps));
    return tf.div(dot, tf.add(tf.mul(keyNorm, rowNorm), eps)) as tf.Tensor3D;
  });
}

/**
 * Content addressing `C(M, k, beta)[i] = softmax_i(beta * cos(k, M[i]))` (docs/spec.md section 1;
 * NTM paper eq. 5, DNC paper methods "content-based addressing").
 *
 * @param memory - M, [B, N, W]
 * @param keys - k, one per head, [B, H, W]
 * @param strengths - beta, one per head, [B, H] (use {@link oneplus} to keep beta >= 1)
 * @param mask - optional DNC-MD key mask, [B, H, W]
 * @returns content weightings, [B, H, N]; each row sums to 1
 */
export function contentWeights(
  memory: tf.Tensor3D,
  keys: tf.Tensor3D,
  strengths: tf.Tensor2D,
  mask?: tf.Tensor3D,
): tf.Tensor3D {
  checkShape('memory', memory, [null, null, null], '[B, N, W]');
  checkShape('keys', keys, [memory.shape[0], null, memory.shape[2]], '[B, H, W]');
  checkShape('strengths', strengths, [memory.shape[0], keys.shape[1] ?? null], '[B, H]');
  return tf.tidy(() => {
    const similarity = cosineSimilarity(memory, keys, mask);
    return tf.softmax(tf.mul(similarity, strengths.expandDims(2))) as tf.Tensor3D;
  });
}

/** Throws unless every value of a small tensor is finite (synchronous: for tests and guards). */
export function assertFinite(name: string, tensor: tf.Tensor): void {
  const values = tensor.dataSync();
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new MannError(`${name} has a non-finite value ${values[i]} at flat index ${i}`);
    }
  }
}
