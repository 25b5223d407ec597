import type * as tf from '@tensorflow/tfjs';
import type { SparseLink } from './sparse-link.js';

// The DNC's state types, apart from the memory module so that both implementations (and the
// model) can name them without importing each other.

/**
 * A temporal link matrix: a tensor, or a {@link SparseLink} stored by rows (the composed
 * implementation with sparse links). The composed implementation's tensor is the dense
 * [B, Hw, N, N] link. The fused implementation's (dense or sparse) is an opaque resident
 * tensor: a scalar whose link data lives in JS memory, outside TF.js, until `readLink` copies
 * it out (`isResidentLink` tells it apart); it is disposed with the state like any tensor.
 */
export type TemporalLink = tf.Tensor | SparseLink;

/** The DNC memory state after step t (named, never positional; a step returns a new one). */
export interface DncState {
  /** M_t, [B, N, W]. */
  readonly memory: tf.Tensor3D;
  /** u_t, [B, N], in [0, 1]. */
  readonly usage: tf.Tensor2D;
  /**
   * L_t, one per write head: [B, Hw, N, N], or a {@link SparseLink} with sparse links; from the
   * fused implementation, an opaque resident tensor (either kind, its data in JS memory until
   * `readLink` reads it; see {@link TemporalLink}).
   */
  readonly link: TemporalLink;
  /** p_t, [B, Hw, N]. */
  readonly precedence: tf.Tensor3D;
  /** w^r_t, [B, R, N]. */
  readonly readWeights: tf.Tensor3D;
  /** w^w_t, [B, Hw, N]. */
  readonly writeWeights: tf.Tensor3D;
}
