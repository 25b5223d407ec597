import * as tf from '@tensorflow/tfjs';
import { checkShape, customGradient } from '@mann/core';

/**
 * Precedence p_t = (1 - sum_i w^w[i]) p_{t-1} + w^w (docs/spec.md section 3 step 6; DNC paper,
 * methods, "temporal memory linkage"): the degree to which each slot was the last written.
 * One per write head.
 *
 * @param prevPrecedence - p_{t-1}, [B, Hw, N]
 * @param writeWeights - w^w_t, [B, Hw, N]
 * @returns p_t, [B, Hw, N]; each row sums to at most 1
 */
export function updatePrecedence(
  prevPrecedence: tf.Tensor3D,
  writeWeights: tf.Tensor3D,
): tf.Tensor3D {
  checkShape('writeWeights', writeWeights, [null, null, null], '[B, Hw, N]');
  checkShape('prevPrecedence', prevPrecedence, writeWeights.shape, '[B, Hw, N]');
  return tf.tidy(
    () =>
      tf.add(
        tf.mul(tf.sub(1, tf.sum(writeWeights, 2, true)), prevPrecedence),
        writeWeights,
      ) as tf.Tensor3D,
  );
}

/** 1 - I as [N, N]: multiplies a link matrix to force its diagonal to zero. */
function offDiagonal(slots: number): tf.Tensor2D {
  return tf.tidy(() => tf.sub(1, tf.eye(slots)) as tf.Tensor2D);
}

// The link update as one op with a hand-written gradient: the automatic one launches ~50
// kernels per step (broadcast reductions, saved copies) for what takes ~15 here. With
// G' = dL_t * (1 - I):
//   dL_{t-1} = (1 - w_i - w_j) G'
//   dw_i = sum_j G'_ij p_j - sum_j G'_ij L_ij - sum_j G'_ji L_ji
//   dp_j = sum_i G'_ij w_i
const linkUpdateOp = customGradient<[tf.Tensor, tf.Tensor, tf.Tensor]>(
  ([link, precedence, weights], save) => {
    const [batch, heads, slots] = weights.shape as [number, number, number];
    const rows = batch * heads;
    const wi = weights.reshape([rows, slots, 1]);
    const wj = weights.reshape([rows, 1, slots]);
    const prev = link.reshape([rows, slots, slots]);
    const kept = tf.mul(tf.sub(tf.sub(1, wi), wj), prev);
    const added = tf.mul(wi, precedence.reshape([rows, 1, slots]));
    save([prev, precedence.reshape([rows, slots, 1]), wi]);
    return {
      value: tf.mul(tf.add(kept, added), offDiagonal(slots)).reshape(link.shape),
      gradFunc: (dy, saved) => {
        const [l, p, w] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const g = tf.mul(dy.reshape([rows, slots, slots]), offDiagonal(slots)) as tf.Tensor3D;
        const dLink = tf.mul(tf.sub(tf.sub(1, w), w.reshape([rows, 1, slots])), g);
        const h = tf.mul(g, l) as tf.Tensor3D;
        const ones = tf.ones([rows, 1, slots]) as tf.Tensor3D;
        const rowTerms = tf.sub(tf.matMul(g, p), tf.sum(h, 2, true)); // [rows, N, 1]
        const columnTerm = tf.matMul(ones, h); // [rows, 1, N]: column sums, one kernel
        const dWeights = tf.sub(
          rowTerms.reshape([batch, heads, slots]),
          columnTerm.reshape([batch, heads, slots]),
        );
        const dPrecedence = tf.matMul(w, g, true, false).reshape([batch, heads, slots]); // w^T G'
        return [dLink.reshape(link.shape), dPrecedence, dWeights];
      },
    };
  },
);

/**
 * Temporal link matrix, one per write head (docs/spec.md section 3 step 6), using the precedence of the
 * PREVIOUS step: `L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p_{t-1}[j]`, diagonal 0.
 * L[i, j] is the degree to which slot i was written right after slot j.
 *
 * @param prevLink - L_{t-1}, [B, Hw, N, N]
 * @param prevPrecedence - p_{t-1}, [B, Hw, N]
 * @param writeWeights - w^w_t, [B, Hw, N]
 * @returns L_t, [B, Hw, N, N]; entries in [0, 1], rows and columns sum to at most 1
 */
export function updateTemporalLink(
  prevLink: tf.Tensor4D,
  prevPrecedence: tf.Tensor3D,
  writeWeights: tf.Tensor3D,
): tf.Tensor4D {
  checkShape('writeWeights', writeWeights, [null, null, null], '[B, Hw, N]');
  const [batch, heads, slots] = writeWeights.shape;
  checkShape('prevPrecedence', prevPrecedence, [batch, heads, slots], '[B, Hw, N]');
  checkShape('prevLink', prevLink, [batch, heads, slots, slots], '[B, Hw, N, N]');
  return linkUpdateOp(prevLink, prevPrecedence, writeWeights) as tf.Tensor4D;
}

/**
 * Forward and backward weightings (docs/spec.md section 3 step 7): `f = L_t w^r_{t-1}` (forward in
 * write order: from slot j to the slot written after it) and `b = L_t^T w^r_{t-1}`, for every
 * read head and every write head's link matrix.
 *
 * @param link - L_t, [B, Hw, N, N]
 * @param prevReadWeights - w^r_{t-1}, [B, R, N]
 * @param forward - true for f = L w, false for b = L^T w
 * @returns [B, R, Hw, N]
 */
export function directionalWeights(
  link: tf.Tensor4D,
  prevReadWeights: tf.Tensor3D,
  forward: boolean,
): tf.Tensor4D {
  checkShape('link', link, [null, null, null, null], '[B, Hw, N, N]');
  const [batch, heads, slots] = link.shape;
  checkShape('prevReadWeights', prevReadWeights, [batch, null, slots], '[B, R, N]');
  const reads = prevReadWeights.shape[1];
  return tf.tidy(() => {
    if (forward) {
      // [B, Hw N, N] x [B, N, R] -> [B, Hw N, R]: f[b, h, i, r] = sum_j L[b, h, i, j] w[b, r, j]
      const f = tf.matMul(
        link.reshape([batch, heads * slots, slots]),
        prevReadWeights,
        false,
        true,
      );
      return f.reshape([batch, heads, slots, reads]).transpose([0, 3, 1, 2]) as tf.Tensor4D;
    }
    // [B, R, N] x [B, N, Hw N] -> [B, R, Hw N]: b[b, r, h, j] = sum_i w[b, r, i] L[b, h, i, j]
    const byRow =
      heads === 1
        ? link.reshape([batch, slots, slots])
        : link.transpose([0, 2, 1, 3]).reshape([batch, slots, heads * slots]);
    return tf.matMul(prevReadWeights, byRow).reshape([batch, reads, heads, slots]) as tf.Tensor4D;
  });
}
