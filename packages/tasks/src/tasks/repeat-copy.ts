import type { Rng, SequenceBatch } from '@mann/core';
import { BatchWriter, checkOrdered, maxOf, randomBits } from '../batch.js';
import { intParam, numberParam } from '../params.js';
import { defineTask } from '../task.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of the repeat copy task (Graves et al. 2014, section 4.2). */
export interface RepeatCopyParams {
  /** Bits per vector. Default 8. */
  readonly bits: number;
  /** Shortest sequence L. Default 1. */
  readonly minLength: number;
  /** Longest sequence L; L ~ U{minLength..maxLength}. Default 10. */
  readonly maxLength: number;
  /** Fewest repeats n. Default 1. */
  readonly minRepeats: number;
  /** Most repeats n; n ~ U{minRepeats..maxRepeats}. Default 10. */
  readonly maxRepeats: number;
  /**
   * The repeat channel carries n / repeatNormaliser. Default 10 (the training maxRepeats); the
   * generalisation variants keep it, so 20 repeats show as 2.0 as the model would extrapolate.
   */
  readonly repeatNormaliser: number;
}

/** bits 8, L ~ U{1..10}, n ~ U{1..10}, scalar n / 10: the NTM paper's training distribution. */
export const DEFAULT_REPEAT_COPY_PARAMS: RepeatCopyParams = {
  bits: 8,
  minLength: 1,
  maxLength: 10,
  minRepeats: 1,
  maxRepeats: 10,
  repeatNormaliser: 10,
};

/**
 * Repeat copy: store a sequence, then output it n times and mark the end.
 *
 * Per sequence of L ~ U{minLength..maxLength} random vectors and n ~ U{minRepeats..maxRepeats}:
 * - steps 0..L-1: input channels 0..bits-1 = vector i;
 * - step L: delimiter channel `bits` = 1 and repeat channel `bits + 1` = n / repeatNormaliser;
 * - steps L+1..L+nL: zero input; target channels 0..bits-1 = vector (k mod L) for the k-th
 *   answer step, end-marker channel `bits` = 0; mask 1;
 * - step L+nL+1: zero input; target = end marker only (channel `bits` = 1); mask 1.
 *
 * Input width bits + 2, output width bits + 1; a batch is padded to its longest L + nL + 2 steps.
 * Generalisation variants: `length-20` (L = 20), `repeats-20` (n = 20), `length-20-repeats-20`.
 */
export const repeatCopyTask: TaskDefinition<RepeatCopyParams> = defineTask<
  RepeatCopyParams,
  SequenceBatch
>({
  name: 'repeat-copy',
  description: 'Repeat copy: output a sequence n times, then an end marker (NTM paper)',
  defaults: DEFAULT_REPEAT_COPY_PARAMS,
  paramSpecs: {
    bits: intParam(1, 1024, 'bits per vector'),
    minLength: intParam(1, 10_000, 'shortest sequence (vectors)'),
    maxLength: intParam(1, 10_000, 'longest sequence (vectors)'),
    minRepeats: intParam(1, 10_000, 'fewest repeats'),
    maxRepeats: intParam(1, 10_000, 'most repeats'),
    repeatNormaliser: numberParam(1e-6, 1e6, 'the repeat channel carries n / repeatNormaliser'),
  },
  variants: {
    'length-20': { minLength: 20, maxLength: 20 },
    'repeats-20': { minRepeats: 20, maxRepeats: 20 },
    'length-20-repeats-20': { minLength: 20, maxLength: 20, minRepeats: 20, maxRepeats: 20 },
  },
  check(params) {
    checkOrdered('repeat-copy', 'minLength', params.minLength, 'maxLength', params.maxLength);
    checkOrdered('repeat-copy', 'minRepeats', params.minRepeats, 'maxRepeats', params.maxRepeats);
  },
  build: (params) => ({
    inputWidth: params.bits + 2,
    outputWidth: params.bits + 1,
    sample: (rng: Rng, batchSize: number) => sampleRepeatCopy(params, rng, batchSize),
  }),
});

function sampleRepeatCopy(params: RepeatCopyParams, rng: Rng, batchSize: number): SequenceBatch {
  const { bits } = params;
  const sequences = Array.from({ length: batchSize }, () => {
    const length = rng.int(params.minLength, params.maxLength);
    const repeats = rng.int(params.minRepeats, params.maxRepeats);
    return { length, repeats, data: randomBits(rng, length * bits) };
  });
  const steps = maxOf(sequences.map((s) => s.length * (s.repeats + 1) + 2));
  const writer = new BatchWriter(batchSize, steps, bits + 2, bits + 1);
  sequences.forEach(({ length, repeats, data }, b) => {
    const vector = (i: number): Float32Array => data.subarray(i * bits, (i + 1) * bits);
    for (let i = 0; i < length; i++) writer.inputVector(b, i, vector(i));
    writer.input(b, length, bits);
    writer.input(b, length, bits + 1, repeats / params.repeatNormaliser);
    const answerStart = length + 1;
    for (let k = 0; k < repeats * length; k++) {
      writer.targetVector(b, answerStart + k, vector(k % length));
      writer.answer(b, answerStart + k);
    }
    const end = answerStart + repeats * length;
    writer.target(b, end, bits);
    writer.answer(b, end);
  });
  return writer.build();
}
