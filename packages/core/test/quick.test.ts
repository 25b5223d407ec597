import { it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createModel, selectBackend, TrainingSession, Rng, type SequenceBatch } from '@mann/core';

function copyBatch(rng: Rng, b: number): SequenceBatch {
  const bits = 4, maxLen = 5, T = 2 * maxLen + 1;
  const inputs = new Float32Array(b * T * (bits + 1)), targets = new Float32Array(b * T * bits), mask = new Float32Array(b * T);
  for (let s = 0; s < b; s++) {
    const L = rng.int(1, maxLen);
    for (let t = 0; t < L; t++) for (let k = 0; k < bits; k++) {
      const v = rng.bernoulli(); inputs[(s * T + t) * (bits + 1) + k] = v; targets[(s * T + L + 1 + t) * bits + k] = v; mask[s * T + L + 1 + t] = 1;
    }
    inputs[(s * T + L) * (bits + 1) + bits] = 1;
  }
  return { batchSize: b, steps: T, inputWidth: bits + 1, outputWidth: bits, inputs, targets, mask };
}

it('lstm learns', async () => {
  await selectBackend();
  const model = createModel({ type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes: [64] }, { seed: 3 });
  const session = new TrainingSession({ model, sample: copyBatch, batchSize: 16, trainerOptions: { optimizer: { kind: 'adam', learningRate: 1e-2 } } });
  const t0 = performance.now();
  const before = tf.memory().numTensors;
  let last = 0;
  session.trainUntil(400, (r) => { last = r.bitsPerSequence; if (r.step % 50 === 0) console.log(r.step, r.bitsPerSequence.toFixed(2), r.gradNorm.toFixed(2)); });
  console.log('ms/step', (performance.now() - t0) / 400, 'leak', tf.memory().numTensors - before);
  const ev = session.trainer.evaluate(copyBatch(new Rng(99), 64));
  console.log(ev.bitsPerSequence, ev.bitErrorsPerSequence, ev.sequenceAccuracy);
  expect(last).toBeLessThan(100);
}, 120000);
