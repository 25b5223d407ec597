import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createModel,
  listMemories,
  listModels,
  loadCheckpoint,
  restoreCheckpoint,
  Rng,
  saveCheckpoint,
  selectBackend,
  Trainer,
} from '@mann/core';
import { tensorsLeaked, copyBatch } from '@mann/core/testing';
import { createDnc, DncModel, resolveDncConfig } from '@mann/dnc';
import { expectClose, onBothBackends } from './helpers.js';

let dir = '';
beforeAll(async () => {
  await selectBackend();
  dir = await mkdtemp(join(tmpdir(), 'mann-dnc-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tiny = {
  inputSize: 5,
  outputSize: 4,
  memorySlots: 8,
  memoryWidth: 5,
  readHeads: 2,
  controller: { hiddenSizes: [16] },
};

describe('configuration and registry', () => {
  it('registers model type and memory type dnc', () => {
    expect(listModels()).toContain('dnc');
    expect(listMemories()).toContain('dnc');
  });

  it('defaults to an LSTM controller, memory 128 x 20, 4 read heads and 1 write head, every option off', () => {
    expect(resolveDncConfig({ inputSize: 3, outputSize: 2 })).toEqual({
      type: 'dnc',
      inputSize: 3,
      outputSize: 2,
      controller: { kind: 'lstm', hiddenSizes: [100], activation: 'tanh', init: 'glorot' },
      clipValue: 20,
      outputClipValue: 20,
      memorySlots: 128,
      memoryWidth: 20,
      readHeads: 4,
      writeHeads: 1,
      masking: false,
      deallocation: false,
      linkSharpness: false,
      sparseLinks: false,
      sparseLinkK: 8,
      implementation: 'fused',
    });
  });

  it('rejects unknown options (listing the valid ones) and bad values (naming them)', () => {
    expect(() =>
      resolveDncConfig({ inputSize: 3, outputSize: 2, memorySize: 10 } as never),
    ).toThrow(/unknown dnc config option 'memorySize'; valid options: .*memorySlots/);
    expect(() => resolveDncConfig({ inputSize: 3, outputSize: 2, readHeads: 0 })).toThrow(
      /readHeads must be an integer >= 1, got 0/,
    );
    expect(() =>
      resolveDncConfig({ inputSize: 3, outputSize: 2, masking: 'yes' as never }),
    ).toThrow(/masking must be true or false/);
    expect(() => resolveDncConfig({ inputSize: 3, outputSize: 2, sparseLinkK: 2.5 })).toThrow(
      /sparseLinkK must be an integer/,
    );
    expect(() =>
      createModel({
        type: 'memory',
        inputSize: 3,
        outputSize: 2,
        memory: { type: 'dnc', slots: 4 },
      }),
    ).toThrow(/unknown dnc memory config option 'slots'/);
  });

  it('builds through createModel, and as a memory of the generic memory network', () => {
    tf.tidy(() => {
      const model = createModel({ type: 'dnc', ...tiny }, { seed: 3 });
      expect(model).toBeInstanceOf(DncModel);
      expect(model.parameters.names()).toEqual([
        'controller/lstm0/inputKernel',
        'controller/lstm0/recurrentKernel',
        'controller/lstm0/bias',
        'interface/kernel',
        'interface/bias',
        'output/kernel',
        'output/bias',
      ]);
      const x = tf.randomUniform([2, 3, 5]) as tf.Tensor3D;
      expect(model.run(x).outputs.shape).toEqual([2, 3, 4]);
      const generic = createModel(
        {
          type: 'memory',
          inputSize: 5,
          outputSize: 4,
          controller: { hiddenSizes: [8] },
          memory: { type: 'dnc', memorySlots: 6, memoryWidth: 3, readHeads: 1 },
        },
        { seed: 3 },
      );
      expect(generic.run(x).outputs.shape).toEqual([2, 3, 4]);
      model.dispose();
      generic.dispose();
    });
  });
});

describe('DncModel', () => {
  it('run equals step by step, and stacks the traces to [B, T, ...]', () => {
    const model = createDnc({ ...tiny, writeHeads: 2 }, { seed: 4 });
    tf.tidy(() => {
      const x = tf.randomUniform([2, 4, 5], 0, 1, 'float32', 1) as tf.Tensor3D;
      const { outputs, traces } = model.run(x, { trace: true });
      let state = model.initialState(2);
      const steps: tf.Tensor[] = [];
      for (const xt of tf.unstack(x, 1)) {
        const r = model.step(xt as tf.Tensor2D, state);
        state = r.state;
        steps.push(r.output);
      }
      expectClose(tf.stack(steps, 1).dataSync(), outputs.dataSync(), 1e-5);
      expect(
        Object.fromEntries(Object.entries(traces ?? {}).map(([k, v]) => [k, v.shape])),
      ).toEqual({
        readWeights: [2, 4, 2, 8],
        writeWeights: [2, 4, 2, 8],
        usage: [2, 4, 8],
        allocation: [2, 4, 2, 8],
        freeGates: [2, 4, 2],
        allocationGate: [2, 4, 2],
        writeGate: [2, 4, 2],
        readModes: [2, 4, 2, 5],
      });
    });
    model.dispose();
  });

  it('clips the output logits to +-outputClipValue (0 disables)', () => {
    for (const outputClipValue of [0.05, 0]) {
      const model = createDnc({ ...tiny, outputClipValue }, { seed: 5 });
      const largest = tf.tidy(
        () =>
          tf
            .max(
              tf.abs(
                model.run(tf.randomUniform([2, 3, 5], -50, 50, 'float32', 2) as tf.Tensor3D)
                  .outputs,
              ),
            )
            .dataSync()[0] as number,
      );
      if (outputClipValue > 0) expect(largest).toBeLessThanOrEqual(outputClipValue + 1e-7);
      else expect(largest).toBeGreaterThan(0.05);
      model.dispose();
    }
  });

  it('gives the same outputs and parameter gradients on cpu and wasm, for every option and controller', async () => {
    const variants = [
      {},
      { controller: { kind: 'feedforward' as const, hiddenSizes: [12] } },
      { writeHeads: 2, masking: true, deallocation: true, linkSharpness: true },
      { sparseLinks: true, sparseLinkK: 3 },
    ];
    const data = copyBatch(new Rng(6), 3, 4, 1, 3);
    for (const variant of variants) {
      await onBothBackends(() => {
        const model = createDnc({ ...tiny, ...variant }, { seed: 7 });
        const inputs = tf.tensor3d(data.inputs, [3, data.steps, 5]);
        const targets = tf.tensor3d(data.targets, [3, data.steps, 4]);
        const variables = model.parameters.entries().map(([, v]) => v);
        const { value, grads } = tf.variableGrads(
          () => tf.losses.sigmoidCrossEntropy(targets, model.run(inputs).outputs) as tf.Scalar,
          variables,
        );
        const out = [value, ...variables.map((v) => grads[v.name] as tf.Tensor)];
        const kept = out.map((t) => t.clone());
        tf.dispose([value, ...Object.values(grads)]);
        model.dispose();
        return kept;
      }, 1e-4);
    }
  });
});

describe('training', () => {
  it('leaks no tensors across training steps (dense and sparse links)', async () => {
    for (const sparseLinks of [false, true]) {
      const model = createDnc({ ...tiny, sparseLinks, sparseLinkK: 3 }, { seed: 8 });
      const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-3 } });
      const rng = new Rng(9);
      trainer.trainStep(copyBatch(rng, 4, 4, 1, 3)); // creates the optimizer's slots
      const leaked = await tensorsLeaked(() => {
        for (let i = 0; i < 3; i++) trainer.trainStep(copyBatch(rng, 4, 4, 1, 3));
        trainer.evaluate(copyBatch(rng, 4, 4, 1, 3));
      });
      expect(leaked).toBe(0);
      trainer.dispose();
      model.dispose();
    }
  });

  it('round-trips through a checkpoint: same config, parameters, outputs and trainer state', async () => {
    const config = { ...tiny, deallocation: true, linkSharpness: true };
    const model = createDnc(config, { seed: 10 });
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-3 } });
    const rng = new Rng(11);
    for (let i = 0; i < 2; i++) trainer.trainStep(copyBatch(rng, 4, 4, 1, 3));
    const path = join(dir, 'dnc.ckpt');
    await saveCheckpoint(path, { model, trainer, metadata: { note: 'dnc test' } });
    const checkpoint = await loadCheckpoint(path);
    expect(checkpoint.modelConfig).toEqual(model.config);
    const restored = restoreCheckpoint(checkpoint);
    expect(restored.model).toBeInstanceOf(DncModel);
    const probe = copyBatch(new Rng(12), 3, 4, 2, 3);
    expectClose(
      restored.trainer?.evaluate(probe).probabilities ?? [],
      trainer.evaluate(probe).probabilities,
      0,
    );
    expect(restored.trainer?.step).toBe(2);
    // Training continues identically from the restored state.
    const next = copyBatch(new Rng(13), 4, 4, 1, 3);
    const a = trainer.trainStep(next);
    const b = restored.trainer?.trainStep(next);
    expect(b?.bitsPerSequence).toBeCloseTo(a.bitsPerSequence, 5);
    expectClose(
      restored.trainer?.evaluate(probe).probabilities ?? [],
      trainer.evaluate(probe).probabilities,
      1e-6,
    );
    restored.trainer?.dispose();
    restored.model.dispose();
    trainer.dispose();
    model.dispose();
  });
});
