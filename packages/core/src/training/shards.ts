import * as tf from '@tensorflow/tfjs';
import type { RecurrentModel } from '../interfaces.js';
import { batchTensors, type SequenceBatch } from '../data.js';
import { maskedBitsPerSequence } from './loss.js';

/** Rows `[start, end)` of a batch. */
export interface ShardRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Splits `batchSize` rows into `min(parts, batchSize)` contiguous shards whose sizes differ by at
 * most one (the first `batchSize % parts` shards get the extra row).
 */
export function shardRanges(batchSize: number, parts: number): ShardRange[] {
  const count = Math.min(parts, batchSize);
  const base = Math.floor(batchSize / count);
  const extra = batchSize % count;
  const ranges: ShardRange[] = [];
  let start = 0;
  for (let k = 0; k < count; k++) {
    const end = start + base + (k < extra ? 1 : 0);
    ranges.push({ start, end });
    start = end;
  }
  return ranges;
}

/** Chunks per thread a batch is cut into for training threads, at most ({@link chunkRanges}). */
export const CHUNKS_PER_THREAD = 2;

/**
 * Sequences every chunk must keep for a thread's share to be cut into {@link CHUNKS_PER_THREAD}
 * chunks ({@link chunkRanges}). Small chunks cost more than they gain by balancing: at batch 16
 * on 2 threads, 4 chunks of 4 took 1.05-1.10x the time of 2 chunks of 8 (NTM and DNC, 7 of 8
 * paired runs, 2026-12-06), and the NTM's 1.06-1.10x again (3 runs of 30 paired steps,
 * 2026-12-07) once its cost per call alone had fallen to ~0.5 ms: two threads running small
 * chunks at once slow each other down more than large ones.
 */
export const MIN_SPLIT_ROWS = 8;

/**
 * The chunks of a batch of `batchSize` rows trained on `threads` threads, contiguous, sizes
 * differing by at most one (at most one per row): {@link CHUNKS_PER_THREAD} per thread when each
 * keeps at least {@link MIN_SPLIT_ROWS} sequences (so that a thread on a faster core can take
 * over part of a slower one's share), else one per thread. The split depends on nothing else,
 * so neither does the summation order of a step's gradient: a run is deterministic for a given
 * thread count, whichever thread computes which chunk.
 */
export function chunkRanges(batchSize: number, threads: number): ShardRange[] {
  if (threads === 1) return shardRanges(batchSize, 1);
  const split = batchSize >= CHUNKS_PER_THREAD * MIN_SPLIT_ROWS * threads;
  return shardRanges(batchSize, (split ? CHUNKS_PER_THREAD : 1) * threads);
}

/** Rows `[range.start, range.end)` of `batch` as a batch of its own (copies, not views). */
export function sliceBatch(batch: SequenceBatch, range: ShardRange): SequenceBatch {
  const { steps: t, inputWidth: i, outputWidth: o } = batch;
  const { start, end } = range;
  return {
    batchSize: end - start,
    steps: t,
    inputWidth: i,
    outputWidth: o,
    inputs: batch.inputs.slice(start * t * i, end * t * i),
    targets: batch.targets.slice(start * t * o, end * t * o),
    mask: batch.mask.slice(start * t, end * t),
  };
}

/** Number of values of each trainable parameter, in `trainableEntries()` order. */
export function trainableSizes(model: RecurrentModel): number[] {
  return model.parameters.trainableEntries().map(([, v]) => v.size);
}

/**
 * Loss (masked bits per sequence, averaged over the shard) and its gradient with respect to every
 * trainable parameter of `model` on one shard, written flat into `gradients` in
 * `trainableEntries()` order (a parameter the loss does not reach gets zeros). Leaves no tensors.
 */
export function shardLossAndGradients(
  model: RecurrentModel,
  shard: SequenceBatch,
  gradients: Float32Array<ArrayBufferLike>,
): number {
  const entries = model.parameters.trainableEntries();
  return tf.tidy(() => {
    const { inputs, targets, mask } = batchTensors(shard);
    const { value, grads } = tf.variableGrads(
      () => maskedBitsPerSequence(model.run(inputs).outputs, targets, mask),
      entries.map(([, v]) => v),
    );
    let offset = 0;
    for (const [, v] of entries) {
      const g = grads[v.name];
      if (g) gradients.set(g.dataSync() as Float32Array, offset);
      else gradients.fill(0, offset, offset + v.size);
      offset += v.size;
    }
    return value.dataSync()[0] as number;
  });
}

/**
 * The full-batch loss and gradient from per-shard ones. The loss is a mean over the batch, so
 * shard k (of `sizes[k]` rows out of B) counts with weight `sizes[k] / B`:
 * `L = sum_k (B_k / B) L_k`, `g = sum_k (B_k / B) g_k`, summed in shard order in float64 and
 * rounded once to float32, so a given shard split always gives the same result.
 */
export function combineShards(
  losses: readonly number[],
  gradients: readonly Float32Array<ArrayBufferLike>[],
  sizes: readonly number[],
  into: Float32Array,
): number {
  const total = sizes.reduce((a, b) => a + b, 0);
  const weights = sizes.map((size) => size / total);
  let loss = 0;
  for (let k = 0; k < losses.length; k++) loss += (weights[k] as number) * (losses[k] as number);
  // Up to four shards per pass over the values, each value's sum in a local (V8 keeps it in a
  // register; a loop over the shards inside the loop over the values runs ~3x slower). With more
  // than four, the passes add into float64 sums.
  const count = gradients.length;
  const sums = count > 4 ? new Float64Array(into.length) : null;
  for (let k = 0; k < count; k += 4) {
    accumulate(
      gradients.slice(k, k + 4),
      weights.slice(k, k + 4),
      k === 0 ? null : sums,
      sums ?? into,
    );
  }
  if (sums) into.set(sums);
  return loss;
}

/**
 * `to[i] = (from ? from[i] : 0) + w0 g0[i] + w1 g1[i] + ...` for one to four shards, added in
 * order in float64.
 */
function accumulate(
  g: readonly Float32Array<ArrayBufferLike>[],
  w: readonly number[],
  from: Float64Array | null,
  to: Float32Array | Float64Array,
): void {
  const n = to.length;
  const [a, b, c, d] = g as [Float32Array, Float32Array, Float32Array, Float32Array];
  const [wa, wb, wc, wd] = w as [number, number, number, number];
  const start = (i: number): number => (from ? (from[i] as number) : 0);
  switch (g.length) {
    case 1:
      for (let i = 0; i < n; i++) to[i] = start(i) + wa * (a[i] as number);
      break;
    case 2:
      for (let i = 0; i < n; i++) {
        let sum = start(i) + wa * (a[i] as number);
        sum += wb * (b[i] as number);
        to[i] = sum;
      }
      break;
    case 3:
      for (let i = 0; i < n; i++) {
        let sum = start(i) + wa * (a[i] as number);
        sum += wb * (b[i] as number);
        sum += wc * (c[i] as number);
        to[i] = sum;
      }
      break;
    default:
      for (let i = 0; i < n; i++) {
        let sum = start(i) + wa * (a[i] as number);
        sum += wb * (b[i] as number);
        sum += wc * (c[i] as number);
        sum += wd * (d[i] as number);
        to[i] = sum;
      }
  }
}
