import * as tf from '@tensorflow/tfjs';
import { customGradient } from '@mann/core';
import type { LinkArrays } from './link-pass.js';

/** The data of a {@link ResidentLink}: its values and the gradient later steps send back. */
export interface LinkRecord {
  readonly arrays: LinkArrays;
  /** dL/d(values), summed over the fused steps that read this link; null until one does. */
  grad: Float32Array | null;
}

const records = new WeakMap<ResidentLink, LinkRecord>();

/**
 * A temporal link matrix made by the fused step (`implementation: 'fused'`), kept in JS memory
 * (Float32Arrays) instead of on the TF.js backend: a dense [B, Hw, N, N] link is the largest
 * part of the DNC's state, and copying it into and out of the backend (and keeping every step's
 * copy there for backprop) cost more than computing it. The gradient with respect to it goes
 * from the step that reads it straight back to the step that made it, which the scalar `token`
 * ties together on TF.js's gradient tape (the later step takes the token as an input).
 *
 * Read it with {@link ResidentLink.toTensor} (dense, any kind) or {@link ResidentLink.toSparse};
 * both are differentiable. Dispose it with the state (`tf.dispose` frees the token; the arrays
 * are garbage-collected).
 */
export class ResidentLink {
  /** A scalar that orders the steps on the gradient tape; its value is meaningless. */
  readonly token: tf.Scalar;
  /** [B, Hw, N, N] (dense) or [B, Hw, N, K] (sparse: K (column, value) pairs per row). */
  readonly shape: readonly [number, number, number, number];
  /** True for a sparse link (see `SparseLink`). */
  readonly sparse: boolean;

  /** @internal Built by the fused step; users receive ResidentLinks in DNC states. */
  constructor(
    token: tf.Scalar,
    arrays: LinkArrays,
    shape: readonly [number, number, number, number],
  ) {
    this.token = token;
    this.shape = shape;
    this.sparse = arrays.columns !== null;
    records.set(this, { arrays, grad: null });
  }

  /**
   * The link as a dense [B, Hw, N, N] tensor. Differentiable: its gradient flows back into the
   * fused steps that made the link.
   */
  toTensor(): tf.Tensor4D {
    const record = linkRecord(this);
    const { values, columns } = record.arrays;
    const [batch, heads, slots, capacity] = this.shape;
    const shape: [number, number, number, number] = [batch, heads, slots, slots];
    const op = customGradient<[tf.Tensor]>(([token]) => {
      if (!columns) {
        return {
          value: tf.tensor4d(values.slice(), shape),
          gradFunc: (dy) => {
            addLinkGradient(record, (dy.dataSync() as Float32Array).slice());
            return tf.zerosLike(token);
          },
        };
      }
      const dense = new Float32Array(batch * heads * slots * slots);
      for (let row = 0; row < batch * heads * slots; row++) {
        for (let k = 0; k < capacity; k++) {
          const at = row * capacity + k;
          const column = row * slots + (columns[at] as number);
          dense[column] = (dense[column] as number) + (values[at] as number);
        }
      }
      return {
        value: tf.tensor4d(dense, shape),
        gradFunc: (dy) => {
          const dDense = dy.dataSync();
          const dValues = new Float32Array(values.length);
          for (let at = 0; at < dValues.length; at++) {
            const row = Math.floor(at / capacity);
            dValues[at] = dDense[row * slots + (columns[at] as number)] as number;
          }
          addLinkGradient(record, dValues);
          return tf.zerosLike(token);
        },
      };
    });
    return op(this.token) as tf.Tensor4D;
  }

  /**
   * A sparse link's values and columns as tensors [B, Hw, N, K]. The values are
   * differentiable: their gradient flows back into the fused steps that made the link.
   */
  toSparse(): { values: tf.Tensor4D; columns: tf.Tensor4D } {
    const record = linkRecord(this);
    const { values, columns } = record.arrays;
    if (!columns) throw new Error('toSparse: this link is dense (use toTensor)');
    const op = customGradient<[tf.Tensor]>(([token]) => ({
      value: tf.tensor4d(values.slice(), [...this.shape]),
      gradFunc: (dy) => {
        addLinkGradient(record, (dy.dataSync() as Float32Array).slice());
        return tf.zerosLike(token);
      },
    }));
    return {
      values: op(this.token) as tf.Tensor4D,
      columns: tf.tensor4d(columns.slice(), [...this.shape], 'int32'),
    };
  }
}

/** The arrays and gradient slot of a resident link (for the fused step only). */
export function linkRecord(link: ResidentLink): LinkRecord {
  const record = records.get(link);
  if (!record) throw new Error('not a ResidentLink made by the fused step');
  return record;
}

/** Adds `grad` to the link's gradient (taking ownership of `grad`). */
export function addLinkGradient(record: LinkRecord, grad: Float32Array): void {
  if (!record.grad) {
    record.grad = grad;
    return;
  }
  const sum = record.grad;
  for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (grad[i] as number);
}
