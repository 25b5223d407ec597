import type * as tf from '@tensorflow/tfjs';
import type { SparseLink } from './sparse-link.js';
import type { ResidentLink } from './fused/resident-link.js';

// The DNC's state types, apart from the memory module so that both implementations (and the
// model) can name them without importing each other.

/**
 * A temporal link matrix: dense [B, Hw, N, N], or stored by rows with sparse links (composed
 * implementation); kept in JS memory by the fused implementation ({@link ResidentLink}).
 */
export type TemporalLink = tf.Tensor4D | SparseLink | ResidentLink;

/** The DNC memory state after step t (named, never positional; a step returns a new one). */
export interface DncState {
  /** M_t, [B, N, W]. */
  readonly memory: tf.Tensor3D;
  /** u_t, [B, N], in [0, 1]. */
  readonly usage: tf.Tensor2D;
  /**
   * L_t, one per write head: [B, Hw, N, N], or a {@link SparseLink} with sparse links; a
   * {@link ResidentLink} (either kind, in JS memory) from the fused implementation.
   */
  readonly link: TemporalLink;
  /** p_t, [B, Hw, N]. */
  readonly precedence: tf.Tensor3D;
  /** w^r_t, [B, R, N]. */
  readonly readWeights: tf.Tensor3D;
  /** w^w_t, [B, Hw, N]. */
  readonly writeWeights: tf.Tensor3D;
}
