// `mann export` and `mann eval` of the exported layers model: in process (the exported model
// against the checkpoint's model, NTM, DNC and LSTM, to 1e-5) and end to end through the CLI
// (eval of the checkpoint and of its export print the same scores).
import * as tf from '@tensorflow/tfjs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointToLayersModel,
  createModel,
  layersModelFiles,
  loadCheckpoint,
  predict,
  Rng,
  saveCheckpoint,
  selectBackend,
} from '@mann/core';
import type { ModelConfig } from '@mann/core';
import { copyBatch, maxAbsDifference } from '@mann/core/testing';
import '@mann/ntm';
import '@mann/dnc';
import { json, mann, removeScratch, scratchDir } from './cli-helpers.js';

beforeAll(async () => {
  await selectBackend();
});
afterAll(removeScratch);

const TASK = { name: 'copy', params: { bits: 4, minLength: 1, maxLength: 3 } };
const configs: ModelConfig[] = [
  {
    type: 'ntm',
    inputSize: 5,
    outputSize: 4,
    controller: { hiddenSizes: [8] },
    memorySlots: 6,
    memoryWidth: 3,
  },
  {
    type: 'ntm',
    inputSize: 5,
    outputSize: 4,
    controller: { kind: 'feedforward', hiddenSizes: [8] },
    memorySlots: 6,
    memoryWidth: 3,
    implementation: 'composed',
  },
  {
    type: 'dnc',
    inputSize: 5,
    outputSize: 4,
    controller: { hiddenSizes: [8] },
    memorySlots: 6,
    memoryWidth: 3,
    readHeads: 2,
  },
  { type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes: [8] },
];

describe('checkpointToLayersModel', () => {
  for (const config of configs) {
    it(`gives the checkpoint's outputs (${JSON.stringify(config)})`, async () => {
      const dir = await scratchDir('export');
      const model = createModel(config, { seed: 5 });
      const path = join(dir, 'model.ckpt');
      await saveCheckpoint(path, { model, metadata: { task: TASK } });
      const checkpoint = await loadCheckpoint(path);
      const exported = checkpointToLayersModel(checkpoint);
      const batch = copyBatch(new Rng(2), 3, 4, 1, 3);
      const expected = predict(model, batch);
      const x = tf.tensor3d(batch.inputs, [batch.batchSize, batch.steps, batch.inputWidth]);
      const got = (exported.predict(x) as tf.Tensor).dataSync();
      expect(maxAbsDifference(got, expected)).toBeLessThanOrEqual(1e-5);
      await exported.save(layersModelFiles(join(dir, 'layers')));
      const loaded = await tf.loadLayersModel(layersModelFiles(join(dir, 'layers')));
      expect(
        maxAbsDifference((loaded.predict(x) as tf.Tensor).dataSync(), expected),
      ).toBeLessThanOrEqual(1e-5);
      expect(
        (loaded.getUserDefinedMetadata() as { mann: { metadata: unknown } }).mann.metadata,
      ).toEqual({ task: TASK });
      model.dispose();
      exported.dispose();
      loaded.dispose();
    });
  }
});

describe('mann export, mann eval', () => {
  it('exports a trained checkpoint; eval of either form prints the same scores', async () => {
    const results = await scratchDir('export-cli');
    const trained = json<{ checkpoint: string }>(
      await mann(
        'train',
        '--model',
        'ntm',
        '--task',
        'copy',
        '--set',
        'task.bits=4',
        '--set',
        'task.maxLength=3',
        '--set',
        'train.sequences=64',
        '--set',
        'model.controller={"kind":"lstm","hiddenSizes":[8]}',
        '--set',
        'model.memorySlots=8',
        '--set',
        'model.memoryWidth=4',
        '--results',
        results,
        '--json',
      ),
    );
    const out = join(results, 'exported');
    const exported = await mann('export', trained.checkpoint, out, '--json');
    expect(exported.code, exported.stderr).toBe(0);
    expect(json<{ layer: string }>(exported).layer).toBe('NtmLayer');
    expect((await readdir(out)).sort()).toEqual(['model.json', 'weights.bin']);
    const fromCheckpoint = json<{ results: unknown[]; task: unknown }>(
      await mann('eval', trained.checkpoint, '--json'),
    );
    const fromLayers = json<{ results: unknown[]; task: unknown; step: number }>(
      await mann('eval', out, '--json'),
    );
    expect(fromLayers.task).toEqual(fromCheckpoint.task);
    expect(fromLayers.results).toEqual(fromCheckpoint.results);
    expect(fromLayers.step).toBe(4);
  });

  it('names a missing checkpoint', async () => {
    const dir = await scratchDir('export-missing');
    const result = await mann('export', join(dir, 'nope.ckpt'), join(dir, 'out'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('nope.ckpt');
  });
});
