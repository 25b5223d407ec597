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
  const weights = sizes.map((s) => s / total);
  let loss = 0;
  for (let k = 0; k < losses.length; k++) loss += (weights[k] as number) * (losses[k] as number);
  if (gradients.length === 2) {
    // the usual case (2 threads), unrolled: the generic loop below is ~3x slower in V8
    const [a, b] = gradients as [Float32Array<ArrayBufferLike>, Float32Array<ArrayBufferLike>];
    const [wa, wb] = weights as [number, number];
    for (let i = 0; i < into.length; i++) {
      let sum = 0;
      sum += wa * (a[i] as number);
      sum += wb * (b[i] as number);
      into[i] = sum;
    }
    return loss;
  }
  for (let i = 0; i < into.length; i++) {
    let sum = 0;
    for (let k = 0; k < gradients.length; k++) {
      sum +=
        (weights[k] as number) * ((gradients[k] as Float32Array<ArrayBufferLike>)[i] as number);
    }
    into[i] = sum;
  }
  return loss;
}
