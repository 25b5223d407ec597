import { MannError } from '@mann/core';
import type { Rng, SequenceBatch } from '@mann/core';
import { BatchWriter, checkOrdered, maxOf, randomBits } from '../batch.js';
import { intParam } from '../params.js';
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
   * Lower end a of the range U{a..b} whose mean and standard deviation normalise the repeat count;
   * 0 (the default) means this task's own `minRepeats`. Generalisation sets pin it to the
   * training task's range (see {@link repeatCountScale}).
   */
  readonly scaleMinRepeats: number;
  /** Upper end b of that range; 0 (the default) means this task's own `maxRepeats`. */
  readonly scaleMaxRepeats: number;
}

/** bits 8, L ~ U{1..10}, n ~ U{1..10}: the NTM paper's training distribution. */
export const DEFAULT_REPEAT_COPY_PARAMS: RepeatCopyParams = {
  bits: 8,
  minLength: 1,
  maxLength: 10,
  minRepeats: 1,
  maxRepeats: 10,
  scaleMinRepeats: 0,
  scaleMaxRepeats: 0,
};

/** The mean and standard deviation that normalise the repeat count of a repeat copy task. */
export interface RepeatCountScale {
  /** Mean of U{a..b}: (a + b) / 2. */
  readonly mean: number;
  /** Standard deviation of U{a..b}: sqrt(((b - a + 1)^2 - 1) / 12); 0 when a = b. */
  readonly std: number;
}

/**
 * The normalisation of the repeat count: the mean and standard deviation of the discrete uniform
 * distribution U{a..b}, with a..b = `scaleMinRepeats..scaleMaxRepeats`, or this task's own
 * `minRepeats..maxRepeats` where those are 0. For the default 1..10: mean 5.5, std 2.872.
 */
export function repeatCountScale(params: RepeatCopyParams): RepeatCountScale {
  const a = params.scaleMinRepeats || params.minRepeats;
  const b = params.scaleMaxRepeats || params.maxRepeats;
  const span = b - a + 1;
  return { mean: (a + b) / 2, std: Math.sqrt((span * span - 1) / 12) };
}

/** The value the repeat channel carries for `repeats`: (n - mean) / std, or n - mean if std = 0. */
export function encodeRepeatCount(repeats: number, scale: RepeatCountScale): number {
  return (repeats - scale.mean) / (scale.std > 0 ? scale.std : 1);
}

/**
 * Repeat copy: store a sequence, then output it n times and mark the end.
 *
 * Per sequence of L ~ U{minLength..maxLength} random vectors and n ~ U{minRepeats..maxRepeats}:
 * - steps 0..L-1: input channels 0..bits-1 = vector i;
 * - step L: delimiter channel `bits` = 1 and repeat channel `bits + 1` = (n - mean) / std, the
 *   count normalised to mean 0 and variance 1 over the training distribution of n (NTM paper,
 *   section 4.2; {@link repeatCountScale}): for n ~ U{1..10}, (n - 5.5) / 2.872;
 * - steps L+1..L+nL: zero input; target channels 0..bits-1 = vector (k mod L) for the k-th
 *   answer step, end-marker channel `bits` = 0; mask 1;
 * - step L+nL+1: zero input; target = end marker only (channel `bits` = 1); mask 1.
 *
 * Input width bits + 2, output width bits + 1; a batch is padded to its longest L + nL + 2 steps.
 * Generalisation variants: `length-20` (L = 20), `repeats-20` (n = 20), `length-20-repeats-20`.
 * They keep the training task's normalisation, so 20 repeats after training on 1..10 read
 * (20 - 5.5) / 2.872 = 5.05, outside the training range as the paper intends.
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
    scaleMinRepeats: intParam(
      0,
      10_000,
      'low end of the repeat range that normalises the count (0: minRepeats)',
    ),
    scaleMaxRepeats: intParam(
      0,
      10_000,
      'high end of the repeat range that normalises the count (0: maxRepeats)',
    ),
  },
  variants: {
    'length-20': { minLength: 20, maxLength: 20 },
    'repeats-20': { minRepeats: 20, maxRepeats: 20 },
    'length-20-repeats-20': { minLength: 20, maxLength: 20, minRepeats: 20, maxRepeats: 20 },
  },
  check(params) {
    checkOrdered('repeat-copy', 'minLength', params.minLength, 'maxLength', params.maxLength);
    checkOrdered('repeat-copy', 'minRepeats', params.minRepeats, 'maxRepeats', params.maxRepeats);
    if ((params.scaleMinRepeats === 0) !== (params.scaleMaxRepeats === 0)) {
      throw new MannError(
        `repeat-copy: scaleMinRepeats (${params.scaleMinRepeats}) and scaleMaxRepeats (${params.scaleMaxRepeats}) must both be 0 or both be set`,
      );
    }
    checkOrdered(
      'repeat-copy',
      'scaleMinRepeats',
      params.scaleMinRepeats,
      'scaleMaxRepeats',
      params.scaleMaxRepeats,
    );
  },
  pinned(training) {
    const a = training.scaleMinRepeats || training.minRepeats;
    const b = training.scaleMaxRepeats || training.maxRepeats;
    return { scaleMinRepeats: a, scaleMaxRepeats: b };
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
  const scale = repeatCountScale(params);
  const steps = maxOf(sequences.map((s) => s.length * (s.repeats + 1) + 2));
  const writer = new BatchWriter(batchSize, steps, bits + 2, bits + 1);
  sequences.forEach(({ length, repeats, data }, b) => {
    const vector = (i: number): Float32Array => data.subarray(i * bits, (i + 1) * bits);
    for (let i = 0; i < length; i++) writer.inputVector(b, i, vector(i));
    writer.input(b, length, bits);
    writer.input(b, length, bits + 1, encodeRepeatCount(repeats, scale));
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
