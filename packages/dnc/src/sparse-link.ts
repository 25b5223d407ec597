import * as tf from '@tensorflow/tfjs';
import { checkInteger, checkShape, MannError, tidy } from '@mann/core';
import {
  gatherLastAxis,
  gatherRows,
  largestIndices,
  scatterAddLastAxis,
  scatterAddRows,
  withoutGradient,
} from './ops.js';

/**
 * A temporal link matrix stored by rows: row i of write head h keeps K (column, value) pairs
 * with distinct columns; every other entry of the row is 0. Memory and work are O(N K) per
 * step instead of O(N^2).
 */
export interface SparseLink {
  /** L[b, h, i, columns[b, h, i, k]], [B, Hw, N, K]. */
  readonly values: tf.Tensor4D;
  /** Column j of each stored value, int32 [B, Hw, N, K]; distinct within a row. */
  readonly columns: tf.Tensor4D;
}

/**
 * 1 where two integer-valued tensors are equal, 0 elsewhere (float32, broadcasting). Float
 * arithmetic rather than `tf.equal`: on wasm a broadcasting `equal` over 260k elements took
 * 40 ms, the same `sub` 0.8 ms.
 */
function equalMask(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.relu(tf.sub(1, tf.abs(tf.sub(tf.cast(a, 'float32'), tf.cast(b, 'float32')))));
}

/** `x` [B, H, 1, K] repeated along axis 2 to [B, H, n, K], float32, by broadcasting (wasm's Tile took 12 ms for 130k values). */
function repeatRows(x: tf.Tensor, n: number): tf.Tensor {
  const [batch, heads, , k] = x.shape as [number, number, number, number];
  return tf.add(tf.zeros([batch, heads, n, k]), tf.cast(x, 'float32'));
}

/**
 * True when `link` is a {@link SparseLink} of tensors (not a dense [B, Hw, N, N] tensor, nor a
 * fused step's resident link).
 */
export function isSparseLink(link: tf.Tensor | SparseLink | object): link is SparseLink {
  return !(link instanceof tf.Tensor) && 'values' in link && 'columns' in link;
}

/**
 * The all-zero link: row i stores columns i+1, ..., i+K (mod N) with value 0.
 *
 * @param capacity - K entries per row; at most N
 */
export function initialSparseLink(
  batchSize: number,
  writeHeads: number,
  slots: number,
  capacity: number,
): SparseLink {
  checkInteger('capacity', capacity, 1, slots);
  const columns = new Int32Array(batchSize * writeHeads * slots * capacity);
  for (let row = 0; row < batchSize * writeHeads * slots; row++) {
    const i = row % slots;
    for (let k = 0; k < capacity; k++) columns[row * capacity + k] = (i + 1 + k) % slots;
  }
  const shape: [number, number, number, number] = [batchSize, writeHeads, slots, capacity];
  return { values: tf.zeros(shape), columns: tf.tensor4d(columns, shape, 'int32') };
}

/**
 * Keeps the `k` largest entries of the last axis and sets the rest to 0 (the DNC paper's
 * sparse approximation of w^w and p). The gradient flows through the kept values.
 *
 * @param weights - [..., N]
 * @returns [..., N]
 */
export function keepLargest<T extends tf.Tensor>(weights: T, k: number): T {
  const slots = weights.shape[weights.rank - 1] as number;
  checkInteger('k', k, 1);
  if (k >= slots) return tf.clone(weights);
  return tf.tidy(() => {
    const top = largestIndices(weights, k);
    return scatterAddLastAxis(gatherLastAxis(weights, top), top, slots) as T;
  });
}

/**
 * Sparse temporal link update (DNC paper, methods, "sparse link matrix"): with ŵ and p̂ the
 * write weighting and the previous precedence with all but their K largest entries set to 0,
 * `L_t[i, j] = (1 - ŵ[i] - ŵ[j]) L_{t-1}[i, j] + ŵ[i] p̂[j]`, diagonal 0, and each row keeps
 * its K largest entries. New entries only enter the K rows where ŵ is nonzero, so only those
 * rows are merged and cut back to K (O(K^3)); every other row only decays (O(N K)). With
 * K >= N nothing is dropped and the result equals {@link updateTemporalLink}.
 *
 * @param prevLink - L_{t-1}, stored by rows with capacity min(K, N)
 * @param prevPrecedence - p_{t-1}, [B, Hw, N]
 * @param writeWeights - w^w_t, [B, Hw, N]
 * @param k - K, entries of w^w and p kept
 */
export function updateSparseLink(
  prevLink: SparseLink,
  prevPrecedence: tf.Tensor3D,
  writeWeights: tf.Tensor3D,
  k: number,
): SparseLink {
  checkShape('writeWeights', writeWeights, [null, null, null], '[B, Hw, N]');
  const [batch, heads, slots] = writeWeights.shape;
  checkShape('prevPrecedence', prevPrecedence, [batch, heads, slots], '[B, Hw, N]');
  checkShape('prevLink.values', prevLink.values, [batch, heads, slots, null], '[B, Hw, N, K]');
  checkShape('prevLink.columns', prevLink.columns, prevLink.values.shape, '[B, Hw, N, K]');
  checkInteger('k', k, 1);
  const top = Math.min(k, slots);
  const capacity = prevLink.values.shape[3];
  if (capacity !== top) {
    throw new MannError(`prevLink must store min(k, N) = ${top} entries per row, got ${capacity}`);
  }
  return tidy(() => {
    const { values, columns } = prevLink;
    // ŵ: the K largest write weights (rows written), p̂: the K largest precedences (columns).
    const rows = largestIndices(writeWeights, top); // [B, Hw, K]
    const rowWeights = gatherLastAxis(writeWeights, rows); // ŵ there
    const w = scatterAddLastAxis(rowWeights, rows, slots); // ŵ, [B, Hw, N]
    const precedenceColumns = largestIndices(prevPrecedence, top); // [B, Hw, K]
    const precedenceTop = gatherLastAxis(prevPrecedence, precedenceColumns); // p̂ there
    // Every stored entry decays: (1 - ŵ[i] - ŵ[j]) L[i, j].
    const wAtColumns = gatherLastAxis(w, columns.reshape([batch, heads, slots * capacity]));
    const decayed = tf.mul(
      tf.sub(tf.sub(1, w.expandDims(3)), wAtColumns.reshape(values.shape)),
      values,
    );
    // The written rows gain ŵ[i] p̂[j] for the K columns of p̂ (none on the diagonal).
    const rowValues = gatherRows(decayed, rows); // [B, Hw, K, K']
    const rowColumns = withoutGradient((c, r) => gatherRows(c, r), columns, rows); // int32
    const added = tf.mul(
      tf.mul(rowWeights.expandDims(3), precedenceTop.expandDims(2)),
      withoutGradient(
        (r, p) => tf.sub(1, equalMask(r.expandDims(3), p.expandDims(2))),
        rows,
        precedenceColumns,
      ),
    ); // [B, Hw, K (rows), K (columns of p̂)]
    // match[b, h, r, k', k] = 1 when written row r already stores column supp(p̂)[k] at k'.
    const match = withoutGradient(
      (stored, p) => equalMask(stored.expandDims(4), p.reshape([batch, heads, 1, 1, top])),
      rowColumns,
      precedenceColumns,
    );
    const isNew = withoutGradient((m) => tf.sub(1, tf.sum(m, 3)), match);
    // An added entry whose column the row already stores is summed into it; the others compete
    // for the row's K places with the stored ones, and the K largest stay.
    const merged = tf.add(rowValues, tf.sum(tf.mul(match, added.expandDims(3)), 4));
    const candidates = tf.concat([merged, tf.mul(added, isNew)], 3); // [B, Hw, K, K' + K]
    const keep = withoutGradient(
      (c, fresh) => {
        // Added entries that were merged may not come back (a row's columns stay distinct).
        const penalty = tf.concat([tf.zeros(merged.shape), tf.mul(2, tf.sub(1, fresh))], 3);
        return tf.topk(tf.sub(c, penalty), capacity).indices;
      },
      candidates,
      isNew,
    );
    const newRowValues = gatherLastAxis(candidates, keep); // [B, Hw, K, K']
    const newRowColumns = withoutGradient(
      (stored, added, order) =>
        gatherLastAxis(
          tf.concat([tf.cast(stored, 'float32'), repeatRows(added.expandDims(2), top)], 3),
          order,
        ),
      rowColumns,
      precedenceColumns,
      keep,
    ); // float32
    // The written rows are replaced, the others keep their decayed entries.
    const unwritten = withoutGradient(
      (r) => tf.sub(1, scatterAddLastAxis(tf.ones(r.shape), r, slots)).expandDims(3),
      rows,
    ); // [B, Hw, N, 1]
    const next: SparseLink = {
      values: tf.add(
        tf.mul(decayed, unwritten),
        scatterAddRows(newRowValues, rows, slots),
      ) as tf.Tensor4D,
      columns: withoutGradient(
        (stored, keepRow, fresh, r) => {
          const kept = tf.mul(tf.cast(stored, 'float32'), keepRow);
          return tf.cast(tf.add(kept, scatterAddRows(fresh, r, slots)), 'int32');
        },
        columns,
        unwritten,
        newRowColumns,
        rows,
      ) as tf.Tensor4D,
    };
    return next;
  });
}

/** Column indices repeated for every read head: int32 [B, R, Hw, N K]. */
function columnsPerReadHead(columns: tf.Tensor4D, reads: number): tf.Tensor4D {
  const [batch, heads, slots, capacity] = columns.shape;
  return withoutGradient((c) => {
    const repeated = tf.add(
      tf.zeros([batch, reads, 1, 1]),
      tf.cast(c.reshape([batch, 1, heads, slots * capacity]), 'float32'),
    );
    return tf.cast(repeated, 'int32');
  }, columns) as tf.Tensor4D;
}

/**
 * {@link directionalWeights} for a {@link SparseLink}: `f = L w` gathers w at the stored
 * columns, `b = L^T w` scatter-adds into them; O(R Hw N K).
 *
 * @param link - L_t
 * @param prevReadWeights - w^r_{t-1}, [B, R, N]
 * @param forward - true for f = L w, false for b = L^T w
 * @returns [B, R, Hw, N]
 */
export function sparseDirectionalWeights(
  link: SparseLink,
  prevReadWeights: tf.Tensor3D,
  forward: boolean,
): tf.Tensor4D {
  checkShape('link.values', link.values, [null, null, null, null], '[B, Hw, N, K]');
  const [batch, heads, slots, capacity] = link.values.shape;
  checkShape('prevReadWeights', prevReadWeights, [batch, null, slots], '[B, R, N]');
  const reads = prevReadWeights.shape[1];
  return tf.tidy(() => {
    const columns = columnsPerReadHead(link.columns, reads);
    const values = link.values.expandDims(1); // [B, 1, Hw, N, K]
    if (forward) {
      const perHead = tf.mul(prevReadWeights.expandDims(2), tf.ones([1, 1, heads, 1])); // [B, R, Hw, N]
      const atColumns = gatherLastAxis(perHead, columns).reshape([
        batch,
        reads,
        heads,
        slots,
        capacity,
      ]);
      return tf.sum(tf.mul(values, atColumns), 4) as tf.Tensor4D;
    }
    const contributions = tf.mul(values, prevReadWeights.reshape([batch, reads, 1, slots, 1]));
    return scatterAddLastAxis(
      contributions.reshape([batch, reads, heads, slots * capacity]),
      columns,
      slots,
    ) as tf.Tensor4D;
  });
}

/** The dense [B, Hw, N, N] matrix of a {@link SparseLink} (for tests, traces and inspection). */
export function sparseLinkToDense(link: SparseLink): tf.Tensor4D {
  const slots = link.values.shape[2];
  return scatterAddLastAxis(link.values, link.columns, slots);
}
