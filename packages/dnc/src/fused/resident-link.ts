import * as tf from '@tensorflow/tfjs';
import { defineFusedOp } from '@mann/core/fused';
import type { SparseLink } from '../sparse-link.js';
import type { LinkArrays } from './link-pass.js';

/** The data of a resident link: its values, its layout, and the gradient later steps send back. */
export interface LinkRecord {
  readonly arrays: LinkArrays;
  /** [B, Hw, N, N] (dense) or [B, Hw, N, K] (sparse: K (column, value) pairs per row). */
  readonly shape: readonly [number, number, number, number];
  /** True for a sparse link (see `SparseLink`). */
  readonly sparse: boolean;
  /**
   * Whether a fused step made this link (and its gradient reads `grad`), not `initialLink`: the
   * gradient of a link that no step made goes nowhere, so it is not kept.
   */
  readonly made: boolean;
  /** dL/d(values), summed over the fused steps that read this link; null until one does. */
  grad: Float32Array | null;
}

const records = new WeakMap<tf.Tensor, LinkRecord>();

// A temporal link matrix made by the fused step (`implementation: 'fused'`) is kept in JS memory
// (Float32Arrays) instead of on the TF.js backend: a dense [B, Hw, N, N] link is the largest
// part of the DNC's state, and copying it into and out of the backend (and keeping every step's
// copy there for backprop) cost more than computing it. What the state holds is a scalar
// tensor, the token, whose value is meaningless: it orders the steps on TF.js's gradient tape
// (the later step takes it as an input), so the gradient with respect to the link goes from the
// step that reads it straight back to the step that made it, and it is the key of the link's
// arrays here. Disposing the token (with the state) frees it; the arrays are garbage-collected.

/**
 * Makes `token` the resident link of `arrays`, of shape `shape`, made by a fused step or not
 * (an initial link); returns `token`.
 */
export function residentLink(
  token: tf.Scalar,
  arrays: LinkArrays,
  shape: readonly [number, number, number, number],
  made = true,
): tf.Scalar {
  records.set(token, { arrays, shape, sparse: arrays.columns !== null, made, grad: null });
  return token;
}

/**
 * True when `link` (a DNC state's `link`) is a fused step's resident link: an opaque scalar
 * tensor whose values live in JS memory until {@link readLink} copies them out.
 */
export function isResidentLink(link: unknown): link is tf.Scalar {
  return link instanceof tf.Tensor && records.has(link);
}

/** The arrays and gradient slot of a resident link (for the fused step only). */
export function linkRecord(link: tf.Tensor): LinkRecord {
  const record = records.get(link);
  if (!record) throw new Error('not a resident link made by the fused step');
  return record;
}

/**
 * A DNC state's `link` as TF.js tensors. A resident link (the fused implementation's, see
 * {@link isResidentLink}) is copied out: a dense one as a [B, Hw, N, N] tensor, a sparse one as
 * a `SparseLink` of [B, Hw, N, K] values and int32 columns; the values are differentiable, their
 * gradient flowing back into the fused steps that made the link. A dense tensor or a
 * `SparseLink` comes back as it is.
 */
export function readLink(link: tf.Tensor | SparseLink): tf.Tensor | SparseLink {
  if (!isResidentLink(link)) return link;
  const record = linkRecord(link);
  return record.sparse ? sparseOf(link, record) : denseOf(link, record);
}

/**
 * A resident link's values as a tensor (a copy of its arrays: [B, Hw, N, N] dense, or the
 * [B, Hw, N, K] values of a sparse link). Its gradient goes to the link's record, back to the
 * steps that made it; the token, whose value is meaningless, gets zeros.
 */
const readLinkOp = defineFusedOp<{ readonly record: LinkRecord }>({
  name: 'MannDncReadLink',
  forward(_inputs, { record }) {
    return [{ values: record.arrays.values.slice(), shape: [...record.shape] }];
  },
  backward([dy], { record }) {
    addLinkGradient(record, dy as Float32Array, true);
    return { token: () => tf.scalar(0) };
  },
});

function denseOf(token: tf.Scalar, record: LinkRecord): tf.Tensor4D {
  return readLinkOp({ token }, { record })[0] as tf.Tensor4D;
}

function sparseOf(token: tf.Scalar, record: LinkRecord): SparseLink {
  const { columns } = record.arrays;
  if (!columns) throw new Error('sparseOf: this link is dense');
  return {
    values: readLinkOp({ token }, { record })[0] as tf.Tensor4D,
    columns: tf.tensor4d(columns.slice(), [...record.shape], 'int32'),
  };
}

/**
 * Adds `grad` to the link's gradient. The first one is kept as it is (the record takes it over),
 * or a copy of it when `copy` (the caller's array is about to be reused). Nothing for a link that
 * no step made: its gradient goes nowhere.
 */
export function addLinkGradient(record: LinkRecord, grad: Float32Array, copy = false): void {
  if (!record.made) return;
  if (!record.grad) {
    record.grad = copy ? grad.slice() : grad;
    return;
  }
  const sum = record.grad;
  for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (grad[i] as number);
}
