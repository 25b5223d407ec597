/**
 * The fused fast path on a backend it was never written for: a stand-in registered under a new
 * name (wrapping cpu), as tfjs-node or a vendor's backend would be. Training there must equal
 * training on cpu, bit for bit, and must really take the fused path.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel, Rng, selectBackend, Trainer, type ModelConfig } from '@mann/core';
import { copyBatch, registerStandInBackend, withBackend } from '@mann/core/testing';
import '@mann/ntm';
import '@mann/dnc';

/** A small NTM or DNC with an LSTM controller (so the fused LSTM ops run too). */
const config = (type: 'ntm' | 'dnc'): ModelConfig => ({
  type,
  inputSize: 6,
  outputSize: 5,
  memorySlots: 8,
  memoryWidth: 5,
  controller: { kind: 'lstm', hiddenSizes: [12] },
});

/** Losses of four training steps, the parameters after them, and the kernels of the first. */
async function train(type: 'ntm' | 'dnc', backend: string, implementation: 'fused' | 'composed') {
  return withBackend(backend, async () => {
    const model = createModel({ ...config(type), implementation }, { seed: 5 });
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-2 } });
    const batch = copyBatch(new Rng(5), 3, 5, 1, 4);
    const losses: number[] = [];
    const profile = await tf.profile(() => {
      losses.push(trainer.trainStep(batch).bitsPerSequence);
    });
    for (let i = 0; i < 3; i++) losses.push(trainer.trainStep(batch).bitsPerSequence);
    const parameters = model.parameters.snapshot();
    trainer.dispose();
    model.dispose();
    return { losses, parameters, kernels: profile.kernels.length };
  });
}

describe('the NTM and the DNC on a stand-in backend registered under a new name', () => {
  let name = '';
  beforeAll(async () => {
    name = await registerStandInBackend();
  });
  afterAll(async () => {
    await selectBackend({ backend: 'wasm' });
  });

  it.each(['ntm', 'dnc'] as const)(
    '%s trains on the fused path exactly as on cpu, and the loss falls',
    async (type) => {
      const before = tf.memory().numTensors;
      const cpu = await train(type, 'cpu', 'fused');
      const standIn = await train(type, name, 'fused');
      expect(standIn.losses).toEqual(cpu.losses);
      for (const [key, value] of Object.entries(cpu.parameters)) {
        expect(Array.from(standIn.parameters[key]!.values), key).toEqual(Array.from(value.values));
      }
      expect(standIn.losses[3]!).toBeLessThan(standIn.losses[0]!);
      // The fused path launches far fewer kernels than the composed reference.
      const composed = await train(type, name, 'composed');
      expect(standIn.kernels * 3).toBeLessThan(composed.kernels);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});
