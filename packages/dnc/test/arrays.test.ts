// Training on arrays (`lossAndGradientsOnArrays`, what the training threads run): the loss and
// the gradient of every parameter against TF.js's through the whole-sequence op, with and
// without DNC-MD, through the output clip where it bites, on cpu and wasm; none for sparse
// links, a composed memory or a two-layer controller; no tensors made.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchTensors, Rng, selectBackend } from '@mann/core';
import {
  arraysAgainstTfjs,
  copyBatch,
  flatParameters,
  maxAbsDifference,
  withBackend,
} from '@mann/core/testing';
import { createDnc } from '@mann/dnc';
import type { DncOptions } from '@mann/dnc';

beforeAll(async () => {
  await selectBackend();
});

const BASE: DncOptions = {
  inputSize: 5,
  outputSize: 4,
  controller: { hiddenSizes: [12] },
  memorySlots: 10,
  memoryWidth: 8,
  readHeads: 2,
};

const VARIANTS: [string, Partial<DncOptions>][] = [
  ['the defaults', {}],
  [
    'DNC-MD, 2 write heads',
    { masking: true, deallocation: true, linkSharpness: true, writeHeads: 2 },
  ],
  ['an output clip that bites (0.05)', { outputClipValue: 0.05 }],
  ['no output clip', { outputClipValue: 0 }],
];

describe('DNC training on arrays', () => {
  const batch = copyBatch(new Rng(8), 3, 4, 1, 4);

  for (const [label, variant] of VARIANTS) {
    it(`gives TF.js's loss and the gradient of every parameter: ${label}`, async () => {
      const model = createDnc({ ...BASE, ...variant }, { seed: 2 });
      try {
        for (const backend of ['cpu', 'wasm'] as const) {
          await withBackend(backend, () => {
            const { loss, gradient, expected, tensorsLeft } = arraysAgainstTfjs(model, batch);
            expect(tensorsLeft).toBe(0);
            // again: the same to the bit (the initial zeros, shared between calls, stay zeros)
            const again = new Float32Array(gradient.length);
            const parameters = flatParameters(model);
            expect(model.lossAndGradientsOnArrays(batch, parameters, again)).toBe(loss);
            expect(maxAbsDifference(again, gradient)).toBe(0);
            expect(loss, backend).toBeDefined();
            expect(Math.abs((loss as number) - expected.loss) / expected.loss).toBeLessThan(1e-6);
            const scale = Math.max(...expected.gradient.map(Math.abs));
            expect(maxAbsDifference(gradient, expected.gradient), backend).toBeLessThanOrEqual(
              1e-5 * scale,
            );
            if (variant.outputClipValue) {
              // some logit the loss looks at lies beyond the clip, so its gradient is cut there
              const limit = variant.outputClipValue;
              const logits = tf.tidy(
                () =>
                  model.network.run(batchTensors(batch).inputs).outputs.dataSync() as Float32Array,
              );
              const bites = logits.some(
                (z, i) => Math.abs(z) > limit && batch.mask[Math.floor(i / BASE.outputSize)] !== 0,
              );
              expect(bites).toBe(true);
            }
          });
        }
      } finally {
        model.dispose();
      }
    });
  }

  it('has none for sparse links, a composed memory or a two-layer controller', () => {
    for (const options of [
      { ...BASE, sparseLinks: true, sparseLinkK: 3 },
      { ...BASE, implementation: 'composed' as const },
      { ...BASE, controller: { hiddenSizes: [6, 6] } },
    ]) {
      const model = createDnc(options, { seed: 1 });
      const gradient = new Float32Array(model.parameters.count()).fill(3);
      expect(
        model.lossAndGradientsOnArrays(batch, flatParameters(model), gradient),
      ).toBeUndefined();
      expect(gradient.every((g) => g === 3)).toBe(true);
      model.dispose();
    }
  });
});
