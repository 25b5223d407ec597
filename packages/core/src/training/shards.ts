import * as tf from '@tensorflow/tfjs';
import type { RecurrentModel } from '../interfaces.js';
import { batchTensors, type SequenceBatch } from '../data.js';
import { maskedBitsPerSequenceOnArrays } from './loss.js';

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
 * Loss (masked bits per sequence, averaged over the shard) and its gradient with respect to
 * every trainable parameter of `model` on one shard, written flat into `gradients` in
 * `trainableEntries()` order (a parameter the loss does not reach gets zeros). With the
 * parameters' values `parameters` (flat, `entries()` order), on arrays alone when the model has
 * such a path (`RecurrentModel.lossAndGradientsOnArrays`: no TF.js kernel at all); otherwise,
 * or without `parameters`, from the model's variables by TF.js ops ({@link tfjsShardLoss}),
 * after `beforeVariables` (a training thread loads the step's values into its variables
 * there; called once per call that needs them). Leaves no tensors.
 */
export function shardLossAndGradients(
  model: RecurrentModel,
  shard: SequenceBatch,
  gradients: Float32Array<ArrayBufferLike>,
  parameters?: Float32Array<ArrayBufferLike>,
  beforeVariables: () => void = () => undefined,
): number {
  const loss = parameters && model.lossAndGradientsOnArrays?.(shard, parameters, gradients);
  if (loss !== undefined) return loss;
  beforeVariables();
  return tfjsShardLoss(model, shard, gradients);
}

/**
 * {@link shardLossAndGradients} by TF.js ops from the model's variables, the loss on arrays
 * (`maskedBitsPerSequenceOnArrays`).
 */
export function tfjsShardLoss(
  model: RecurrentModel,
  shard: SequenceBatch,
  gradients: Float32Array<ArrayBufferLike>,
): number {
  const entries = model.parameters.trainableEntries();
  return tf.tidy(() => {
    const { inputs } = batchTensors(shard);
    // the loss on arrays: one op instead of the 55 kernels every chunk would pay for
    const { value, grads } = tf.variableGrads(
      () => maskedBitsPerSequenceOnArrays(model.run(inputs).outputs, shard),
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

/** What {@link combineShards} returns. */
export interface CombinedShards {
  /** The full-batch loss. */
  readonly loss: number;
  /**
   * The sum of the squares of the combined gradient's float32 values, in float64 in index order
   * (as `clipFlatGradients` sums them, so its square root is their norm to the bit).
   */
  readonly sumOfSquares: number;
}

/**
 * The full-batch loss and gradient from per-shard ones. The loss is a mean over the batch, so
 * shard k (of `sizes[k]` rows out of B) counts with weight `sizes[k] / B`:
 * `L = sum_k (B_k / B) L_k`, `g = sum_k (B_k / B) g_k`, summed in shard order in float64 and
 * rounded once to float32, so a given shard split always gives the same result. The sum of the
 * gradient's squares comes out of the same pass, which spares the clipping another one: this
 * runs on the trainer's thread alone while the others wait.
 */
export function combineShards(
  losses: readonly number[],
  gradients: readonly Float32Array<ArrayBufferLike>[],
  sizes: readonly number[],
  into: Float32Array,
): CombinedShards {
  const total = sizes.reduce((a, b) => a + b, 0);
  const weights = sizes.map((size) => size / total);
  let loss = 0;
  for (let k = 0; k < losses.length; k++) loss += (weights[k] as number) * (losses[k] as number);
  const count = gradients.length;
  const g = (k: number): Float32Array => gradients[k] as Float32Array;
  const w = (k: number): number => weights[k] as number;
  // Two to four shards (the threads' chunks: two or more) in one pass over the values, each
  // value's sum in a local (V8 keeps it in a register; a loop over the shards inside the loop
  // over the values runs ~3x slower), one monomorphic loop per count (one loop with a branch per
  // shard ran ~1.4x slower here). Otherwise one pass per shard adds into float64 sums, the same
  // operations in the same order.
  if (count >= 2 && count <= 4) {
    const sumOfSquares =
      count === 2
        ? combine2(g(0), g(1), w(0), w(1), into)
        : count === 3
          ? combine3(g(0), g(1), g(2), w(0), w(1), w(2), into)
          : combine4(g(0), g(1), g(2), g(3), w(0), w(1), w(2), w(3), into);
    return { loss, sumOfSquares };
  }
  const sums = new Float64Array(into.length); // each sum from 0 +, as in the loops below
  for (let k = 0; k < count; k++) {
    const a = g(k);
    const wa = w(k);
    for (let i = 0; i < sums.length; i++) sums[i] = (sums[i] as number) + wa * (a[i] as number);
  }
  into.set(sums);
  let sumOfSquares = 0;
  for (let i = 0; i < into.length; i++) sumOfSquares += (into[i] as number) * (into[i] as number);
  return { loss, sumOfSquares };
}

// Each sum starts `0 + w a[i]`, as a sum of passes from zeros does: the same float64 operations
// in the same order for every count, rounded once.
function combine2(
  a: Float32Array,
  b: Float32Array,
  wa: number,
  wb: number,
  to: Float32Array,
): number {
  let squares = 0;
  for (let i = 0; i < to.length; i++) {
    let sum = 0 + wa * (a[i] as number);
    sum += wb * (b[i] as number);
    const value = Math.fround(sum);
    to[i] = value;
    squares += value * value;
  }
  return squares;
}

function combine3(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  wa: number,
  wb: number,
  wc: number,
  to: Float32Array,
): number {
  let squares = 0;
  for (let i = 0; i < to.length; i++) {
    let sum = 0 + wa * (a[i] as number);
    sum += wb * (b[i] as number);
    sum += wc * (c[i] as number);
    const value = Math.fround(sum);
    to[i] = value;
    squares += value * value;
  }
  return squares;
}

function combine4(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  d: Float32Array,
  wa: number,
  wb: number,
  wc: number,
  wd: number,
  to: Float32Array,
): number {
  let squares = 0;
  for (let i = 0; i < to.length; i++) {
    let sum = 0 + wa * (a[i] as number);
    sum += wb * (b[i] as number);
    sum += wc * (c[i] as number);
    sum += wd * (d[i] as number);
    const value = Math.fround(sum);
    to[i] = value;
    squares += value * value;
  }
  return squares;
}
