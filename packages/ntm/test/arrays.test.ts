// Training on arrays (`lossAndGradientsOnArrays`, what the training threads run): the loss and
// the gradient of every parameter against TF.js's through the whole-sequence op, for every kind
// of initial state, on cpu and wasm; none for a composed NTM or a two-layer controller; no
// tensors made.
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, selectBackend } from '@mann/core';
import {
  arraysAgainstTfjs,
  copyBatch,
  flatParameters,
  maxAbsDifference,
  withBackend,
} from '@mann/core/testing';
import { createNtm } from '@mann/ntm';
import type { NtmOptions } from '@mann/ntm';

beforeAll(async () => {
  await selectBackend();
});

const BASE: NtmOptions = {
  inputSize: 5,
  outputSize: 4,
  controller: { hiddenSizes: [12] },
  memorySlots: 10,
  memoryWidth: 8,
  readHeads: 2,
};

const VARIANTS: [string, Partial<NtmOptions>][] = [
  ['the defaults: constant M_0, learned w_0 and r_0', {}],
  ['learned M_0', { memoryInit: 'learned' }],
  [
    'random M_0 (fixed), uniform w_0, zero r_0',
    { memoryInit: 'random', initialWeighting: 'uniform', initialReads: 'zeros' },
  ],
  ['one-hot w_0', { initialWeighting: 'one-hot' }],
  [
    'zero w_0 on a random M_0, 2 write heads',
    { initialWeighting: 'zeros', memoryInit: 'random', writeHeads: 2 },
  ],
];

describe('NTM training on arrays', () => {
  const batch = copyBatch(new Rng(6), 3, 4, 1, 4);

  for (const [label, variant] of VARIANTS) {
    it(`gives TF.js's loss and the gradient of every parameter: ${label}`, async () => {
      const model = createNtm({ ...BASE, ...variant }, { seed: 5 });
      try {
        for (const backend of ['cpu', 'wasm'] as const) {
          await withBackend(backend, () => {
            const { loss, gradient, expected, tensorsLeft } = arraysAgainstTfjs(model, batch);
            expect(tensorsLeft).toBe(0);
            expect(loss, backend).toBeDefined();
            expect(Math.abs((loss as number) - expected.loss) / expected.loss).toBeLessThan(1e-6);
            const scale = Math.max(...expected.gradient.map(Math.abs));
            let offset = 0;
            for (const [name, v] of model.parameters.trainableEntries()) {
              const mine = gradient.subarray(offset, offset + v.size);
              const theirs = expected.gradient.subarray(offset, offset + v.size);
              const own = Math.max(...theirs.map(Math.abs));
              const difference = maxAbsDifference(mine, theirs);
              // to float32 rounding of the whole gradient, and of each parameter's own
              expect(difference, `${backend} ${name}`).toBeLessThanOrEqual(1e-5 * scale);
              expect(difference, `${backend} ${name}`).toBeLessThanOrEqual(1e-3 * own);
              offset += v.size;
            }
          });
        }
      } finally {
        model.dispose();
      }
    });
  }

  it('has none for a composed NTM or a two-layer controller, and writes nothing then', () => {
    for (const options of [
      { ...BASE, implementation: 'composed' as const },
      { ...BASE, controller: { hiddenSizes: [6, 6] } },
    ]) {
      const model = createNtm(options, { seed: 1 });
      const gradient = new Float32Array(model.parameters.count()).fill(3);
      expect(
        model.lossAndGradientsOnArrays(batch, flatParameters(model), gradient),
      ).toBeUndefined();
      expect(gradient.every((g) => g === 3)).toBe(true);
      model.dispose();
    }
  });
});
