import { MannError } from '@mann/core';
import type { Rng, SequenceBatch } from '@mann/core';
import { BatchWriter, checkOrdered, maxOf, randomBits } from '../batch.js';
import { intParam } from '../params.js';
import { defineTask } from '../task.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of associative recall (Graves et al. 2014, section 4.3). */
export interface AssociativeRecallParams {
  /** Bits per vector. Default 6. */
  readonly bits: number;
  /** Vectors per item. Default 3. */
  readonly itemLength: number;
  /** Fewest items k. Default 2. */
  readonly minItems: number;
  /** Most items k; k ~ U{minItems..maxItems}. Default 6. */
  readonly maxItems: number;
}

/** Items of 3 six-bit vectors, 2..6 items: the NTM paper's training distribution. */
export const DEFAULT_ASSOCIATIVE_RECALL_PARAMS: AssociativeRecallParams = {
  bits: 6,
  itemLength: 3,
  minItems: 2,
  maxItems: 6,
};

/** Item counts of the generalisation variants (`items-<k>`, fixed k). */
export const ASSOCIATIVE_RECALL_GENERALISATION_ITEMS: readonly number[] = [8, 12, 16, 20];

/**
 * Associative recall: after a list of items, given one item, output the item that followed it.
 *
 * Per sequence of k ~ U{minItems..maxItems} distinct items of s = itemLength random vectors
 * (channel layout: data 0..bits-1, item delimiter `bits`, query delimiter `bits + 1`):
 * - for item i = 0..k-1: one step with the item delimiter set, then its s vectors;
 * - one step with the query delimiter set, then the s vectors of item j, j ~ U{0..k-2};
 * - one more query-delimiter step closing the query (it starts the answer phase);
 * - s steps with zero input whose targets are the vectors of item j + 1; mask 1.
 *
 * Length k(s+1) + 2s + 2; input width bits + 2, output width bits. Items in a sequence are
 * distinct, so the answer is unique. Generalisation variants: `items-8`, `items-12`, `items-16`,
 * `items-20` (fixed k).
 */
export const associativeRecallTask: TaskDefinition<AssociativeRecallParams> = defineTask<
  AssociativeRecallParams,
  SequenceBatch
>({
  name: 'associative-recall',
  description: 'Associative recall: given an item from a list, output the next item (NTM paper)',
  defaults: DEFAULT_ASSOCIATIVE_RECALL_PARAMS,
  paramSpecs: {
    bits: intParam(1, 1024, 'bits per vector'),
    itemLength: intParam(1, 1000, 'vectors per item'),
    minItems: intParam(2, 10_000, 'fewest items'),
    maxItems: intParam(2, 10_000, 'most items'),
  },
  variants: Object.fromEntries(
    ASSOCIATIVE_RECALL_GENERALISATION_ITEMS.map((items) => [
      `items-${items}`,
      { minItems: items, maxItems: items },
    ]),
  ),
  check(params) {
    checkOrdered('associative-recall', 'minItems', params.minItems, 'maxItems', params.maxItems);
    const itemBits = params.bits * params.itemLength;
    if (itemBits < 31 && 2 ** itemBits < 2 * params.maxItems) {
      throw new MannError(
        `associative-recall: bits * itemLength = ${itemBits} gives ${2 ** itemBits} distinct items, too few for maxItems = ${params.maxItems} (need at least ${2 * params.maxItems})`,
      );
    }
  },
  build: (params) => ({
    inputWidth: params.bits + 2,
    outputWidth: params.bits,
    sample: (rng: Rng, batchSize: number) => sampleRecall(params, rng, batchSize),
  }),
});

function drawDistinctItems(
  params: AssociativeRecallParams,
  rng: Rng,
  count: number,
): Float32Array[] {
  const size = params.bits * params.itemLength;
  const seen = new Set<string>();
  const items: Float32Array[] = [];
  while (items.length < count) {
    const item = randomBits(rng, size);
    const key = item.join('');
    if (seen.has(key)) continue;
    seen.add(key);
    items.push(item);
  }
  return items;
}

function sampleRecall(params: AssociativeRecallParams, rng: Rng, batchSize: number): SequenceBatch {
  const { bits, itemLength: s } = params;
  const sequences = Array.from({ length: batchSize }, () => {
    const count = rng.int(params.minItems, params.maxItems);
    const items = drawDistinctItems(params, rng, count);
    return { items, query: rng.int(0, count - 2) };
  });
  const steps = maxOf(sequences.map((q) => q.items.length * (s + 1) + 2 * s + 2));
  const writer = new BatchWriter(batchSize, steps, bits + 2, bits);
  sequences.forEach(({ items, query }, b) => {
    const writeItem = (step: number, item: Float32Array): void => {
      for (let v = 0; v < s; v++)
        writer.inputVector(b, step + v, item.subarray(v * bits, (v + 1) * bits));
    };
    items.forEach((item, i) => {
      writer.input(b, i * (s + 1), bits);
      writeItem(i * (s + 1) + 1, item);
    });
    const queryStart = items.length * (s + 1);
    writer.input(b, queryStart, bits + 1);
    writeItem(queryStart + 1, items[query] as Float32Array);
    writer.input(b, queryStart + s + 1, bits + 1);
    const answer = items[query + 1] as Float32Array;
    for (let v = 0; v < s; v++) {
      const step = queryStart + s + 2 + v;
      writer.targetVector(b, step, answer.subarray(v * bits, (v + 1) * bits));
      writer.answer(b, step);
    }
  });
  return writer.build();
}
