import * as tf from '@tensorflow/tfjs';
import { customGradient, MannError } from '@mann/core';

// Tensor ops the DNC needs that TF.js lacks, or lacks on wasm. They work on the last axis
// with flat offsets (never `gather` with batchDims, which returns wrong values on wasm,
// tensorflow/tfjs#8658) and carry hand-written gradients (the gradient of `gather` needs
// UnsortedSegmentSum, which wasm does not have, tensorflow/tfjs#8082). Measured on wasm
// (TF.js 4.22, 131k lookups): `gatherND` 0.9 ms, `gather` 13 ms; a broadcasting int32 add
// 3.5 ms, the same in float32 0.7 ms; so offsets are computed in float32 (exact below 2^24)
// and cast, and lookups use gatherND / scatterND.

/**
 * Runs `compute(...inputs)` as one op with a zero gradient for every input. Nothing inside it
 * is recorded on the gradient tape, so it may use ops that have no gradient (TopK, OneHot,
 * comparisons) and produce integer tensors. A stopped-gradient copy of the input is not
 * enough: the tape still visits the later gradient-less ops and throws.
 */
export function withoutGradient<T extends tf.Tensor>(
  compute: (...inputs: tf.Tensor[]) => T,
  ...inputs: tf.Tensor[]
): T {
  const shapes = inputs.map((x) => x.shape);
  const op = customGradient<tf.Tensor[]>((args) => ({
    value: compute(...args),
    gradFunc: () => shapes.map((shape) => tf.zeros(shape)),
  }));
  return op(...inputs) as T;
}

/**
 * Flat positions of `indices` [..., K] in the flattened [..., slots], as int32 [M, 1] for
 * gatherND / scatterND.
 */
function flatOffsets(indices: tf.Tensor, slots: number): tf.Tensor2D {
  const k = indices.shape[indices.rank - 1] as number;
  const rows = indices.size / k;
  if (rows * slots >= 2 ** 24) {
    throw new MannError(`flat offsets need fewer than 2^24 entries, got ${rows} x ${slots}`);
  }
  return tf.tidy(() => {
    const offsets = tf.range(0, rows * slots, slots, 'float32').reshape([rows, 1]);
    const flat = tf.add(tf.cast(indices.reshape([rows, k]), 'float32'), offsets);
    return tf.cast(flat, 'int32').reshape([rows * k, 1]) as tf.Tensor2D;
  });
}

function checkLeadingDims(name: string, x: tf.Tensor, indices: tf.Tensor): void {
  const lead = x.shape.slice(0, -1);
  const indexLead = indices.shape.slice(0, -1);
  if (
    indices.dtype !== 'int32' ||
    lead.length !== indexLead.length ||
    lead.some((d, i) => d !== indexLead[i])
  ) {
    throw new MannError(
      `${name}: indices must be int32 [${lead.join(', ')}, K] to match [${x.shape.join(', ')}], got ${indices.dtype} [${indices.shape.join(', ')}]`,
    );
  }
}

/**
 * `out[..., k] = x[..., indices[..., k]]`, with a gradient (a scatter-add) that works on wasm.
 *
 * @param x - [..., N]
 * @param indices - int32 [..., K], same leading dimensions as `x`, values in [0, N)
 * @returns [..., K]
 */
export function gatherLastAxis<T extends tf.Tensor>(x: tf.Tensor, indices: T): T {
  checkLeadingDims('gatherLastAxis', x, indices);
  const shape = x.shape;
  const size = x.size;
  const slots = shape[shape.length - 1] as number;
  const op = customGradient<[tf.Tensor, tf.Tensor]>(([values, index], save) => {
    const flat = flatOffsets(index, slots);
    save([flat]);
    return {
      value: tf.gatherND(values.reshape([-1]), flat).reshape(index.shape),
      gradFunc: (dy, [saved]) => [
        tf.scatterND(saved as tf.Tensor, dy.reshape([-1]), [size]).reshape(shape),
        tf.zeros(index.shape),
      ],
    };
  });
  return op(x, indices) as T;
}

/**
 * `out[..., n] = sum over k with indices[..., k] = n of values[..., k]` (repeated indices
 * add up), with a gradient (a gather) that works on wasm.
 *
 * @param values - [..., K]
 * @param indices - int32 [..., K], values in [0, slots)
 * @param slots - N, the length of the output's last axis
 * @returns [..., N]
 */
export function scatterAddLastAxis<T extends tf.Tensor>(
  values: T,
  indices: tf.Tensor,
  slots: number,
): T {
  checkLeadingDims('scatterAddLastAxis', values, indices);
  if (values.shape[values.rank - 1] !== indices.shape[indices.rank - 1]) {
    throw new MannError(
      `scatterAddLastAxis: values [${values.shape.join(', ')}] and indices [${indices.shape.join(', ')}] must have the same shape`,
    );
  }
  const outShape = [...values.shape.slice(0, -1), slots];
  const valueShape = values.shape;
  const op = customGradient<[tf.Tensor, tf.Tensor]>(([v, index], save) => {
    const flat = flatOffsets(index, slots);
    save([flat]);
    const size = outShape.reduce((a, b) => a * b, 1);
    return {
      value: tf.scatterND(flat, v.reshape([-1]), [size]).reshape(outShape),
      gradFunc: (dy, [saved]) => [
        tf.gatherND(dy.reshape([-1]), saved as tf.Tensor).reshape(valueShape),
        tf.zeros(index.shape),
      ],
    };
  });
  return op(values, indices) as T;
}

function checkRowDims(name: string, x: tf.Tensor, rows: tf.Tensor): void {
  const lead = x.shape.slice(0, -2);
  const rowLead = rows.shape.slice(0, -1);
  if (
    rows.dtype !== 'int32' ||
    lead.length !== rowLead.length ||
    lead.some((d, i) => d !== rowLead[i])
  ) {
    throw new MannError(
      `${name}: rows must be int32 [${lead.join(', ')}, T] to match [${x.shape.join(', ')}], got ${rows.dtype} [${rows.shape.join(', ')}]`,
    );
  }
}

/**
 * `out[..., t, :] = x[..., rows[..., t], :]` (whole rows), with a gradient (a scatter-add of
 * rows) that works on wasm.
 *
 * @param x - [..., N, C]
 * @param rows - int32 [..., T], values in [0, N)
 * @returns [..., T, C]
 */
export function gatherRows<T extends tf.Tensor>(x: T, rows: tf.Tensor): T {
  checkRowDims('gatherRows', x, rows);
  const shape = x.shape;
  const [slots, width] = shape.slice(-2) as [number, number];
  const outShape = [...rows.shape, width];
  const op = customGradient<[tf.Tensor, tf.Tensor]>(([values, index], save) => {
    const flat = flatOffsets(index, slots);
    save([flat]);
    return {
      value: tf.gatherND(values.reshape([-1, width]), flat).reshape(outShape),
      gradFunc: (dy, [saved]) => [
        tf
          .scatterND(saved as tf.Tensor, dy.reshape([-1, width]), [x.size / width, width])
          .reshape(shape),
        tf.zeros(index.shape),
      ],
    };
  });
  return op(x, rows) as T;
}

/**
 * `out[..., n, :] = sum over t with rows[..., t] = n of values[..., t, :]`, with a gradient (a
 * gather of rows) that works on wasm.
 *
 * @param values - [..., T, C]
 * @param rows - int32 [..., T], values in [0, slots)
 * @param slots - N
 * @returns [..., N, C]
 */
export function scatterAddRows<T extends tf.Tensor>(values: T, rows: tf.Tensor, slots: number): T {
  checkRowDims('scatterAddRows', values, rows);
  const valueShape = values.shape;
  const width = valueShape[valueShape.length - 1] as number;
  const outShape = [...valueShape.slice(0, -2), slots, width];
  const op = customGradient<[tf.Tensor, tf.Tensor]>(([v, index], save) => {
    const flat = flatOffsets(index, slots);
    save([flat]);
    const count = outShape.reduce((a, b) => a * b, 1) / width;
    return {
      value: tf.scatterND(flat, v.reshape([-1, width]), [count, width]).reshape(outShape),
      gradFunc: (dy, [saved]) => [
        tf.gatherND(dy.reshape([-1, width]), saved as tf.Tensor).reshape(valueShape),
        tf.zeros(index.shape),
      ],
    };
  });
  return op(values, rows) as T;
}

/** Indices of the `k` largest entries of the last axis, largest first (ties: lower index first). No gradient. */
export function largestIndices(x: tf.Tensor, k: number): tf.Tensor {
  return withoutGradient((v) => tf.topk(v, k).indices, x);
}
