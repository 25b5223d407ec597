import { MannError } from '@mann/core';
import type { Rng, SequenceBatch } from '@mann/core';
import { BatchWriter } from '../batch.js';
import { intParam } from '../params.js';
import { defineTask } from '../task.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of dynamic n-grams (Graves et al. 2014, section 4.4). */
export interface DynamicNgramParams {
  /** Context bits c (the task is (c+1)-grams). Default 5: 6-grams, 32 contexts. */
  readonly contextBits: number;
  /** Predicted bits n per sequence, drawn from the table after c fair starting bits. Default 200. */
  readonly length: number;
}

/** 6-grams (5 context bits), 200 predicted bits: the NTM paper's setting. */
export const DEFAULT_DYNAMIC_NGRAM_PARAMS: DynamicNgramParams = { contextBits: 5, length: 200 };

/** Sequence lengths of the generalisation variants (`length-<n>`). */
export const DYNAMIC_NGRAM_GENERALISATION_LENGTHS: readonly number[] = [400, 1000];

/** A dynamic n-gram batch: the usual arrays plus what the scores need. */
export interface DynamicNgramBatch extends SequenceBatch {
  /** [B] cost of the Bayes-optimal predictor on each sequence's masked steps, in bits. */
  readonly optimalBits: Float64Array;
  /** [B, T] the Bayes-optimal probability that the target of each step is 1 (0.5 unmasked). */
  readonly optimalPredictions: Float32Array;
  /** [B, 2^c] the lookup table P(next bit = 1 | context) each sequence was drawn from. */
  readonly tables: Float32Array;
}

/**
 * Context index of the c bits ending at position `end` (exclusive): the bits read as a binary
 * number, oldest bit most significant.
 */
export function contextIndex(bits: ArrayLike<number>, end: number, contextBits: number): number {
  let index = 0;
  for (let i = end - contextBits; i < end; i++) index = index * 2 + (bits[i] as number);
  return index;
}

/**
 * The Bayes-optimal sequential predictor for a (c+1)-gram source whose table entries are
 * independent Beta(1/2, 1/2): for each bit t >= c, P(x_t = 1) = (N1 + 1/2) / (N1 + N0 + 1), with
 * N1, N0 the counts of ones and zeros that followed the same context earlier in the sequence
 * (the Krichevsky-Trofimov estimator).
 *
 * @returns `predictions[t]` = P(x_t = 1) for t >= c (NaN before), and `bits` = the total cost
 *   -sum_t log2 P(x_t) over t = c..n-1.
 */
export function bayesOptimalNgram(
  sequence: ArrayLike<number>,
  contextBits: number,
): { predictions: Float64Array; bits: number } {
  const contexts = 2 ** contextBits;
  const ones = new Float64Array(contexts);
  const zeros = new Float64Array(contexts);
  const predictions = new Float64Array(sequence.length).fill(NaN);
  let bits = 0;
  for (let t = contextBits; t < sequence.length; t++) {
    const context = contextIndex(sequence, t, contextBits);
    const n1 = ones[context] as number;
    const n0 = zeros[context] as number;
    const p1 = (n1 + 0.5) / (n1 + n0 + 1);
    predictions[t] = p1;
    if (sequence[t] === 1) {
      bits -= Math.log2(p1);
      ones[context] = n1 + 1;
    } else {
      bits -= Math.log2(1 - p1);
      zeros[context] = n0 + 1;
    }
  }
  return { predictions, bits };
}

/**
 * Dynamic n-grams: predict each next bit of a sequence from a random (c+1)-gram source.
 *
 * Per sequence: a table of 2^c probabilities drawn from Beta(1/2, 1/2) (`rng.arcsine()`), c fair
 * starting bits x_0..x_{c-1} (they only provide the first context), then n = `length` bits
 * x_c..x_{c+n-1} with P(x_t = 1) = table[context of x_{t-c..t-1}] (see {@link contextIndex}).
 * Steps t = 0..c+n-2: input channel 0 = x_t. The mask is 1 on steps t >= c - 1, where the
 * target is x_{t+1}: exactly the steps whose target has a full c-bit context (n masked steps, 200
 * for the defaults; targets are 0 on the c - 1 unmasked steps). T = c + n - 1 (204) for every
 * sequence; input and output width 1. The Bayes-optimal cost of the defaults averages about 131
 * bits per sequence (the NTM paper reports ~131-132).
 *
 * Scores add `optimalBitsPerSequence` (the Bayes-optimal cost, {@link bayesOptimalNgram}, averaged
 * over the batch) and `gapToOptimal` = bitsPerSequence - optimalBitsPerSequence.
 * Generalisation variants: `length-400`, `length-1000`.
 */
export const dynamicNgramTask: TaskDefinition<DynamicNgramParams, DynamicNgramBatch> = defineTask<
  DynamicNgramParams,
  DynamicNgramBatch
>({
  name: 'dynamic-ngrams',
  description: 'Dynamic n-grams: predict the next bit of a random 6-gram source (NTM paper)',
  defaults: DEFAULT_DYNAMIC_NGRAM_PARAMS,
  paramSpecs: {
    contextBits: intParam(1, 16, 'context bits c ((c+1)-grams, 2^c probabilities)'),
    length: intParam(1, 1_000_000, 'predicted bits per sequence (after c starting bits)'),
  },
  variants: Object.fromEntries(
    DYNAMIC_NGRAM_GENERALISATION_LENGTHS.map((length) => [`length-${length}`, { length }]),
  ),
  build: (params) => ({
    inputWidth: 1,
    outputWidth: 1,
    sample: (rng: Rng, batchSize: number) => sampleNgrams(params, rng, batchSize),
    extraScores(_probabilities, batch, base) {
      if (!(batch.optimalBits instanceof Float64Array)) {
        throw new MannError(
          'dynamic-ngrams scores only batches it sampled: batch.optimalBits is missing',
        );
      }
      let optimal = 0;
      for (const bits of batch.optimalBits) optimal += bits;
      optimal /= batch.batchSize;
      return { optimalBitsPerSequence: optimal, gapToOptimal: base.bitsPerSequence - optimal };
    },
  }),
});

function sampleNgrams(params: DynamicNgramParams, rng: Rng, batchSize: number): DynamicNgramBatch {
  const { contextBits: c } = params;
  const n = c + params.length;
  const contexts = 2 ** c;
  const steps = n - 1;
  const writer = new BatchWriter(batchSize, steps, 1, 1);
  const tables = new Float32Array(batchSize * contexts);
  const optimalBits = new Float64Array(batchSize);
  const optimalPredictions = new Float32Array(batchSize * steps).fill(0.5);
  const sequence = new Float32Array(n);
  for (let b = 0; b < batchSize; b++) {
    const table = tables.subarray(b * contexts, (b + 1) * contexts);
    for (let k = 0; k < contexts; k++) table[k] = rng.arcsine();
    for (let t = 0; t < n; t++) {
      const p1 = t < c ? 0.5 : (table[contextIndex(sequence, t, c)] as number);
      sequence[t] = rng.bernoulli(p1);
    }
    for (let t = 0; t < steps; t++) {
      writer.input(b, t, 0, sequence[t] as number);
      if (t < c - 1) continue;
      writer.target(b, t, 0, sequence[t + 1] as number);
      writer.answer(b, t);
    }
    const optimum = bayesOptimalNgram(sequence, c);
    optimalBits[b] = optimum.bits;
    for (let t = c; t < n; t++)
      optimalPredictions[b * steps + t - 1] = optimum.predictions[t] as number;
  }
  return { ...writer.build(), optimalBits, optimalPredictions, tables };
}
