// @ts-check
/**
 * The task a stack is made for (Grefenstette et al. 2015, "sequence reversal"): read a sequence
 * of random bit vectors, then write it out last vector first. Same layout as the built-in copy
 * task, so the two compare directly; written against the public API of `@mann/tasks`.
 */
import { MannError } from '@mann/core';
import { defineTask, intParam, listTasks, registerTask } from '@mann/tasks';

/**
 * @typedef {object} ReverseParams
 * @property {number} bits Bits per vector; input width bits + 1, output width bits. Default 8.
 * @property {number} minLength Shortest sequence L (vectors). Default 1.
 * @property {number} maxLength Longest sequence L (vectors); L ~ U{minLength..maxLength}. Default 10.
 */

/** @type {ReverseParams} */
export const DEFAULT_REVERSE_PARAMS = Object.freeze({ bits: 8, minLength: 1, maxLength: 10 });

/** Test lengths of the generalisation variants (`length-<L>`, fixed L). */
export const REVERSE_GENERALISATION_LENGTHS = Object.freeze([10, 20, 30]);

/**
 * Per sequence of L ~ U{minLength..maxLength} random vectors x_0 .. x_{L-1}:
 * - steps 0..L-1: input channels 0..bits-1 = x_i (channel `bits` is 0);
 * - step L: the delimiter, input channel `bits` = 1;
 * - steps L+1..2L: zero input; target at step L+1+i = x_{L-1-i}; mask 1 (only there).
 * A batch is padded to T = 2 * (longest L) + 1 with zero, unmasked steps.
 *
 * @param {ReverseParams} params
 * @param {import('@mann/core').Rng} rng
 * @param {number} batchSize
 * @returns {import('@mann/core').SequenceBatch}
 */
export function sampleReverse(params, rng, batchSize) {
  const { bits } = params;
  const lengths = Array.from({ length: batchSize }, () =>
    rng.int(params.minLength, params.maxLength),
  );
  const steps = 2 * Math.max(...lengths) + 1;
  const inputWidth = bits + 1;
  const inputs = new Float32Array(batchSize * steps * inputWidth);
  const targets = new Float32Array(batchSize * steps * bits);
  const mask = new Float32Array(batchSize * steps);
  lengths.forEach((length, b) => {
    for (let i = 0; i < length; i++) {
      const answerStep = b * steps + length + 1 + (length - 1 - i);
      for (let k = 0; k < bits; k++) {
        const bit = rng.bernoulli(0.5);
        inputs[(b * steps + i) * inputWidth + k] = bit;
        targets[answerStep * bits + k] = bit;
      }
      mask[answerStep] = 1;
    }
    inputs[(b * steps + length) * inputWidth + bits] = 1;
  });
  return { batchSize, steps, inputWidth, outputWidth: bits, inputs, targets, mask };
}

/** Registry entry of the reverse task. */
export const reverseTask = defineTask({
  name: 'reverse',
  description: 'Reverse: reproduce a sequence of random bit vectors backwards (plugin example)',
  defaults: DEFAULT_REVERSE_PARAMS,
  paramSpecs: {
    bits: intParam(1, 1024, 'bits per vector'),
    minLength: intParam(1, 100_000, 'shortest sequence (vectors)'),
    maxLength: intParam(1, 100_000, 'longest sequence (vectors)'),
  },
  variants: Object.fromEntries(
    REVERSE_GENERALISATION_LENGTHS.map((length) => [
      `length-${length}`,
      { minLength: length, maxLength: length },
    ]),
  ),
  check(params) {
    if (params.minLength > params.maxLength) {
      throw new MannError(
        `reverse: minLength (${params.minLength}) must be <= maxLength (${params.maxLength})`,
      );
    }
  },
  build: (params) => ({
    inputWidth: params.bits + 1,
    outputWidth: params.bits,
    sample: (rng, batchSize) => sampleReverse(params, rng, batchSize),
  }),
});

/** Registers the task `reverse` unless a task of that name exists (task names cannot be re-registered). */
export function registerReverseTask() {
  if (!listTasks().includes(reverseTask.name)) registerTask(reverseTask);
}
