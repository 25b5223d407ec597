import type { Rng, SequenceBatch } from '@mann/core';
import { BatchWriter, checkOrdered, randomBits } from '../batch.js';
import { intParam } from '../params.js';
import { defineTask } from '../task.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of priority sort (Graves et al. 2014, section 4.5). */
export interface PrioritySortParams {
  /** Bits per vector. Default 8. */
  readonly bits: number;
  /** Input vectors V. Default 20. */
  readonly vectors: number;
  /** Output vectors O <= V: the O highest-priority inputs. Default 16. */
  readonly outputs: number;
}

/** 20 eight-bit vectors in, the 16 highest-priority out: the NTM paper's setting. */
export const DEFAULT_PRIORITY_SORT_PARAMS: PrioritySortParams = {
  bits: 8,
  vectors: 20,
  outputs: 16,
};

/**
 * Priority sort: output the highest-priority input vectors in descending order of priority.
 *
 * Per sequence (channel layout: data 0..bits-1, priority `bits`, delimiter `bits + 1`):
 * - steps 0..V-1: a random vector and its priority ~ U[-1, 1) on the priority channel;
 * - step V: the delimiter;
 * - steps V+1..V+O: zero input; targets are the O highest-priority vectors, highest first; mask 1.
 *
 * T = V + O + 1 for every sequence; input width bits + 2, output width bits. Generalisation
 * variants keep the ratio O/V = 0.8: `vectors-30` (O = 24) and `vectors-40` (O = 32).
 */
export const prioritySortTask: TaskDefinition<PrioritySortParams> = defineTask<
  PrioritySortParams,
  SequenceBatch
>({
  name: 'priority-sort',
  description: 'Priority sort: output the highest-priority vectors in sorted order (NTM paper)',
  defaults: DEFAULT_PRIORITY_SORT_PARAMS,
  paramSpecs: {
    bits: intParam(1, 1024, 'bits per vector'),
    vectors: intParam(1, 100_000, 'input vectors V'),
    outputs: intParam(1, 100_000, 'output vectors O <= V (the O highest priorities)'),
  },
  variants: {
    'vectors-30': { vectors: 30, outputs: 24 },
    'vectors-40': { vectors: 40, outputs: 32 },
  },
  check(params) {
    checkOrdered('priority-sort', 'outputs', params.outputs, 'vectors', params.vectors);
  },
  build: (params) => ({
    inputWidth: params.bits + 2,
    outputWidth: params.bits,
    sample: (rng: Rng, batchSize: number) => sampleSort(params, rng, batchSize),
  }),
});

function sampleSort(params: PrioritySortParams, rng: Rng, batchSize: number): SequenceBatch {
  const { bits, vectors, outputs } = params;
  const writer = new BatchWriter(batchSize, vectors + outputs + 1, bits + 2, bits);
  for (let b = 0; b < batchSize; b++) {
    const data = randomBits(rng, vectors * bits);
    // Rounded to float32 first, so the order is the order of the priorities the model sees.
    const priorities = Array.from({ length: vectors }, () => Math.fround(rng.uniformIn(-1, 1)));
    for (let i = 0; i < vectors; i++) {
      writer.inputVector(b, i, data.subarray(i * bits, (i + 1) * bits));
      writer.input(b, i, bits, priorities[i] as number);
    }
    writer.input(b, vectors, bits + 1);
    const order = priorities
      .map((priority, index) => ({ priority, index }))
      .sort((x, y) => y.priority - x.priority);
    for (let k = 0; k < outputs; k++) {
      const index = (order[k] as { index: number }).index;
      writer.targetVector(b, vectors + 1 + k, data.subarray(index * bits, (index + 1) * bits));
      writer.answer(b, vectors + 1 + k);
    }
  }
  return writer.build();
}
