import { totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { MannError } from '@mann/core';

/** Floats kept per stored float: the forward value, its gradient and working copies. */
const KEEP_FACTOR = 3;
/** The wasm backend's linear memory is 32-bit: at most 4 GiB. */
const WASM_LIMIT_BYTES = 4 * 2 ** 30;

/** Memory a backend can give tensors here: the machine's RAM, and 4 GiB under wasm. */
export function tensorMemoryLimit(backend: string = tf.getBackend()): number {
  return backend === 'wasm' ? Math.min(totalmem(), WASM_LIMIT_BYTES) : totalmem();
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toPrecision(3)} GiB`;

/**
 * Checks, before training, that a memory model's config can fit: training keeps the memory
 * (B x N x W floats, and for the DNC the N x N temporal link matrix unless `sparseLinks`) of
 * every step of a sequence for the gradient. A lower-bound estimate; a config above `limitBytes`
 * cannot run and is rejected with an error naming the field to reduce (`model.memorySlots`).
 * Configs without `memorySlots` and `memoryWidth` (the LSTM) are not checked here.
 */
export function checkMemoryFits(
  config: Readonly<Record<string, unknown>>,
  batchSize: number,
  steps: number,
  limitBytes: number = tensorMemoryLimit(),
): void {
  const { memorySlots: n, memoryWidth: w } = config;
  if (typeof n !== 'number' || typeof w !== 'number') return;
  const links = config.type === 'dnc' && config.sparseLinks !== true ? n * n : 0;
  const perStep = n * w + links;
  const bytes = 4 * KEEP_FACTOR * batchSize * steps * perStep;
  if (bytes <= limitBytes) return;
  const field = links > n * w || n >= w ? 'memorySlots' : 'memoryWidth';
  const detail =
    `${batchSize} sequences x ${steps} steps x (memory ${n} x ${w}` +
    `${links ? ` + links ${n} x ${n}` : ''}) floats, kept for the gradient`;
  throw new MannError(
    `model.${field}=${config[field] as number} does not fit: training needs about ${gib(bytes)} (${detail}), more than the ${gib(limitBytes)} available to tensors here; reduce model.${field}`,
  );
}
