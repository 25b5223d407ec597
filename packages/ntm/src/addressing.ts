import * as tf from '@tensorflow/tfjs';
import { checkShape, contentWeights, MannError, tidy } from '@mann/core';

/**
 * The location-based steps of NTM addressing (Graves et al. 2014, section 3.3, eqs. 7-9).
 * Content addressing (eq. 5-6) is `contentWeights` from `@mann/core`. Every function is a pure
 * function of tensors, batch first, with all heads of one kind handled by the same ops.
 */

/** Added to weights before the logarithm in {@link sharpen}, so zeros stay finite. */
export const SHARPEN_EPSILON = 1e-6;

/**
 * Interpolation gate (eq. 7): `w_g = g * w_c + (1 - g) * w_{t-1}`.
 *
 * @param content - w_c, content weightings, [B, H, N]
 * @param previous - w_{t-1}, the heads' previous weightings, [B, H, N]
 * @param gate - g in [0, 1], one per head, [B, H]
 * @returns w_g, [B, H, N]; a distribution when both inputs are
 */
export function interpolate(
  content: tf.Tensor3D,
  previous: tf.Tensor3D,
  gate: tf.Tensor2D,
): tf.Tensor3D {
  checkShape('content', content, [null, null, null], '[B, H, N]');
  checkShape('previous', previous, content.shape, '[B, H, N] like content');
  checkShape('gate', gate, [content.shape[0], content.shape[1]], '[B, H]');
  return tf.tidy(() => {
    const g = tf.expandDims(gate, 2);
    return tf.add(previous, tf.mul(g, tf.sub(content, previous))) as tf.Tensor3D;
  });
}

/**
 * Circular convolution with the shift weighting (eq. 8):
 * `w_s[i] = sum_j w_g[j] s[(i - j) mod N]`. With S = 2k + 1 shift weights ordered from shift
 * -k to +k, that is `w_s = sum_d s[d + k] * roll(w_g, d)` for d in -k..k, where a shift of +1
 * moves the weight at slot i to slot i + 1 (circular).
 *
 * Computed by padding the weightings circularly by k slots on each side, cutting the S shifted
 * windows out of the padded copy, and combining them with one batched matMul (slice, concat
 * and matMul have gradients on every backend, unlike gather on wasm).
 *
 * @param weights - w_g, [B, H, N]
 * @param shifts - s, one distribution over the S = 2k + 1 shifts per head, [B, H, S]; N >= S
 * @returns w_s, [B, H, N]; a distribution when both inputs are
 */
export function shiftWeights(weights: tf.Tensor3D, shifts: tf.Tensor3D): tf.Tensor3D {
  checkShape('weights', weights, [null, null, null], '[B, H, N]');
  const [batch, heads, slots] = weights.shape;
  checkShape('shifts', shifts, [batch, heads, null], '[B, H, S]');
  const count = shifts.shape[2];
  if (count % 2 !== 1) {
    throw new MannError(`shifts must have an odd size S = 2k + 1 on its last axis, got ${count}`);
  }
  if (count > slots) {
    throw new MannError(
      `shifts has S = ${count} shifts, more than the N = ${slots} slots of weights; N must be >= S`,
    );
  }
  const k = (count - 1) / 2;
  return tf.tidy(() => {
    // padded[j] = w[(j - k) mod N], j = 0 .. N + 2k - 1
    const padded =
      k === 0
        ? weights
        : tf.concat(
            [
              tf.slice(weights, [0, 0, slots - k], [batch, heads, k]),
              weights,
              tf.slice(weights, [0, 0, 0], [batch, heads, k]),
            ],
            2,
          );
    // window s holds roll(w, d) with d = s - k: roll(w, d)[i] = w[i - d] = padded[i - d + k]
    const windows: tf.Tensor3D[] = [];
    for (let s = 0; s < count; s++) {
      windows.push(tf.slice(padded, [0, 0, 2 * k - s], [batch, heads, slots]));
    }
    const stacked = tf.reshape(tf.stack(windows, 2), [batch * heads, count, slots]);
    const mixed = tf.matMul(tf.reshape(shifts, [batch * heads, 1, count]), stacked);
    return tf.reshape(mixed, [batch, heads, slots]) as tf.Tensor3D;
  });
}

/**
 * Sharpening (eq. 9): `w[i] = w_s[i]^gamma / sum_j w_s[j]^gamma`, computed as
 * `softmax_i(gamma * log(w_s[i] + eps))` with eps = {@link SHARPEN_EPSILON}: finite values and
 * gradients when w_s has zeros, and no underflow to 0/0 when gamma is large.
 *
 * @param weights - w_s, non-negative, [B, H, N]
 * @param gamma - gamma >= 1, one per head, [B, H]
 * @returns w, [B, H, N]; each row sums to 1
 */
export function sharpen(weights: tf.Tensor3D, gamma: tf.Tensor2D): tf.Tensor3D {
  checkShape('weights', weights, [null, null, null], '[B, H, N]');
  checkShape('gamma', gamma, [weights.shape[0], weights.shape[1]], '[B, H]');
  return tf.tidy(
    () =>
      tf.softmax(
        tf.mul(tf.expandDims(gamma, 2), tf.log(tf.add(weights, SHARPEN_EPSILON))),
      ) as tf.Tensor3D,
  );
}

/** The result of {@link addressHeads}: the final weightings and the content weightings. */
export interface Addressing {
  /** w_c, the content weightings, [B, H, N]. */
  readonly contentWeights: tf.Tensor3D;
  /** w_t, the heads' new weightings, [B, H, N]. */
  readonly weights: tf.Tensor3D;
}

/**
 * The whole NTM addressing pipeline (Graves et al. 2014, figure 2) for H heads at once:
 * content weights (eq. 5-6), interpolation (eq. 7), shift (eq. 8) and sharpening (eq. 9),
 * `w_t = sharpen(shift(interpolate(C(M, k, beta), w_{t-1}, g), s), gamma)`.
 *
 * @param memory - M, the memory the heads address, [B, N, W]
 * @param heads - the heads' k [B, H, W], beta [B, H], g [B, H], s [B, H, S] and gamma [B, H]
 * @param previous - w_{t-1}, the heads' previous weightings, [B, H, N]
 */
export function addressHeads(
  memory: tf.Tensor3D,
  heads: {
    readonly key: tf.Tensor3D;
    readonly beta: tf.Tensor2D;
    readonly gate: tf.Tensor2D;
    readonly shift: tf.Tensor3D;
    readonly gamma: tf.Tensor2D;
  },
  previous: tf.Tensor3D,
): Addressing {
  checkShape(
    'previous',
    previous,
    [memory.shape[0], heads.key.shape[1], memory.shape[1]],
    '[B, H, N]',
  );
  return tidy(() => {
    const content = contentWeights(memory, heads.key, heads.beta);
    const gated = interpolate(content, previous, heads.gate);
    const weights = sharpen(shiftWeights(gated, heads.shift), heads.gamma);
    return { contentWeights: content, weights };
  });
}
