import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, selectBackend, Trainer } from '@mann/core';
import { copyBatch } from '@mann/core/testing';
import { createDnc } from '@mann/dnc';

beforeAll(async () => {
  await selectBackend();
});

// A feed-forward controller has no memory of its own, so solving copy means using the DNC's:
// writing each vector to an allocated slot and reading them back along the temporal links.
describe('a small DNC learns copy (lengths 1-5, 4 bits)', () => {
  for (const sparseLinks of [false, true]) {
    it(sparseLinks ? 'with sparse links (K = 2 < N = 8)' : 'with dense links', () => {
      const model = createDnc(
        {
          inputSize: 5,
          outputSize: 4,
          controller: { kind: 'feedforward', hiddenSizes: [64] },
          memorySlots: 8,
          memoryWidth: 8,
          readHeads: 1,
          sparseLinks,
          sparseLinkK: 2,
        },
        { seed: 1 },
      );
      const trainer = new Trainer(model, {
        optimizer: { kind: 'adam', learningRate: 1e-2 },
        clipNorm: 10,
      });
      const probe = copyBatch(new Rng(999), 64, 4, 1, 5);
      const before = trainer.evaluate(probe);
      const rng = new Rng(101);
      for (let step = 0; step < 100; step++) trainer.trainStep(copyBatch(rng, 32, 4, 1, 5));
      const after = trainer.evaluate(probe);
      // Untrained: ~11.7 bits and ~6 wrong bits per sequence (of 12 on average).
      expect(before.bitsPerSequence).toBeGreaterThan(10);
      expect(after.bitsPerSequence).toBeLessThan(0.5);
      expect(after.bitErrorsPerSequence).toBeLessThan(0.1);
      trainer.dispose();
      model.dispose();
    });
  }
});
