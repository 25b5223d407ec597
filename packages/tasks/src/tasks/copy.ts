import type { Rng, SequenceBatch } from '@mann/core';
import { BatchWriter, checkOrdered, maxOf, randomBits } from '../batch.js';
import { intParam } from '../params.js';
import { defineTask } from '../task.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of the copy task (Graves et al. 2014, section 4.1). */
export interface CopyParams {
  /** Bits per vector; input width is bits + 1, output width is bits. Default 8. */
  readonly bits: number;
  /** Shortest sequence L (vectors). Default 1. */
  readonly minLength: number;
  /** Longest sequence L (vectors); L ~ U{minLength..maxLength}. Default 20. */
  readonly maxLength: number;
}

/** bits 8, L ~ U{1..20}: the NTM paper's training distribution. */
export const DEFAULT_COPY_PARAMS: CopyParams = { bits: 8, minLength: 1, maxLength: 20 };

/** Test lengths of the NTM paper's generalisation experiment (fixed L; variant `length-<L>`). */
export const COPY_GENERALISATION_LENGTHS: readonly number[] = [30, 50, 100, 120];

/**
 * Copy: store a sequence, then reproduce it.
 *
 * Per sequence of L ~ U{minLength..maxLength} random vectors of `bits` fair bits:
 * - steps 0..L-1: input channels 0..bits-1 = vector i (channel `bits` is 0);
 * - step L: the delimiter, input channel `bits` = 1, everything else 0;
 * - steps L+1..2L: zero input; target = vector i; mask 1 (the only masked steps).
 *
 * Input width bits + 1, output width bits. A batch mixes lengths; it is padded to
 * T = 2 * (longest L in the batch) + 1 with zero, unmasked steps.
 * Generalisation variants `length-30`, `length-50`, `length-100`, `length-120` fix L.
 */
export const copyTask: TaskDefinition<CopyParams> = defineTask<CopyParams, SequenceBatch>({
  name: 'copy',
  description: 'Copy: reproduce a sequence of random bit vectors after a delimiter (NTM paper)',
  defaults: DEFAULT_COPY_PARAMS,
  paramSpecs: {
    bits: intParam(1, 1024, 'bits per vector'),
    minLength: intParam(1, 100_000, 'shortest sequence (vectors)'),
    maxLength: intParam(1, 100_000, 'longest sequence (vectors)'),
  },
  variants: Object.fromEntries(
    COPY_GENERALISATION_LENGTHS.map((length) => [
      `length-${length}`,
      { minLength: length, maxLength: length },
    ]),
  ),
  check(params) {
    checkOrdered('copy', 'minLength', params.minLength, 'maxLength', params.maxLength);
  },
  build: (params) => ({
    inputWidth: params.bits + 1,
    outputWidth: params.bits,
    sample: (rng: Rng, batchSize: number) => sampleCopy(params, rng, batchSize),
  }),
});

function sampleCopy(params: CopyParams, rng: Rng, batchSize: number): SequenceBatch {
  const { bits } = params;
  const sequences = Array.from({ length: batchSize }, () => {
    const length = rng.int(params.minLength, params.maxLength);
    return randomBits(rng, length * bits);
  });
  const longest = maxOf(sequences.map((s) => s.length / bits));
  const writer = new BatchWriter(batchSize, 2 * longest + 1, bits + 1, bits);
  sequences.forEach((data, b) => {
    const length = data.length / bits;
    for (let i = 0; i < length; i++) {
      const vector = data.subarray(i * bits, (i + 1) * bits);
      writer.inputVector(b, i, vector);
      writer.targetVector(b, length + 1 + i, vector);
      writer.answer(b, length + 1 + i);
    }
    writer.input(b, length, bits);
  });
  return writer.build();
}
