import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BatchSource,
  createModel,
  MannError,
  type OptimizerConfig,
  Rng,
  saveCheckpoint,
  selectBackend,
  TrainingSession,
  type TrainStepResult,
} from '@mann/core';
import { withBackend } from '@mann/core/testing';
import { copyBatch, expectBitwiseEqual } from './helpers.js';

let directory = '';
beforeAll(async () => {
  await selectBackend();
  directory = await mkdtemp(join(tmpdir(), 'mann-session-test-'));
});
afterAll(async () => {
  if (directory) await rm(directory, { recursive: true, force: true });
});

const sample: BatchSource = (rng, batchSize) => copyBatch(rng, batchSize);

function newSession(
  modelSeed: number,
  dataSeed: number,
  optimizer: OptimizerConfig = { kind: 'adam', learningRate: 1e-2 },
  source: BatchSource = sample,
): TrainingSession {
  const model = createModel(
    { type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes: [8] },
    { seed: modelSeed },
  );
  return new TrainingSession({
    model,
    sample: source,
    batchSize: 4,
    dataSeed,
    trainerOptions: { optimizer, clipNorm: 1 },
  });
}

const parametersOf = (session: TrainingSession) => session.model.parameters.snapshot();

function expectSameRun(a: TrainingSession, b: TrainingSession): void {
  const [x, y] = [parametersOf(a), parametersOf(b)];
  expect(Object.keys(y)).toEqual(Object.keys(x));
  for (const name of Object.keys(x)) expectBitwiseEqual(y[name]!.values, x[name]!.values, name);
  expect(b.trainer.getState()).toEqual(a.trainer.getState());
  expect(b.dataRngState).toEqual(a.dataRngState);
}

describe('TrainingSession', () => {
  const resumeExactly = async (label: string, optimizer: OptimizerConfig) => {
    const straight = newSession(1, 7, optimizer);
    const straightLosses: number[] = [];
    straight.trainUntil(6, (r) => straightLosses.push(r.bitsPerSequence));

    const first = newSession(1, 7, optimizer);
    first.trainUntil(3);
    const path = join(directory, `${label}.ckpt`);
    await first.save(path, { run: label });
    first.dispose();

    const { session, metadata } = await TrainingSession.resume(path, sample);
    expect(metadata).toEqual({ run: label });
    expect(session.step).toBe(3);
    expect(session.batchSize).toBe(4);
    const resumedLosses: number[] = [];
    session.trainUntil(6, (r) => resumedLosses.push(r.bitsPerSequence));
    expect(resumedLosses).toEqual(straightLosses.slice(3));
    expectSameRun(straight, session);
    straight.dispose();
    session.dispose();
  };

  it('resumes from a checkpoint exactly as the uninterrupted run continues (wasm, Adam)', async () => {
    await resumeExactly('wasm-adam', { kind: 'adam', learningRate: 1e-2 });
  });

  it('resumes exactly on the cpu backend too (centred RMSProp with momentum)', async () => {
    await withBackend('cpu', () =>
      resumeExactly('cpu-rmsprop', {
        kind: 'rmsprop',
        learningRate: 1e-3,
        momentum: 0.9,
        centered: true,
      }),
    );
  });

  it('is deterministic for a seed: same parameters and the same trajectory', () => {
    const runs = [newSession(2, 3), newSession(2, 3)];
    const losses = runs.map((s) => {
      const out: number[] = [];
      s.trainUntil(4, (r) => out.push(r.bitsPerSequence, r.gradNorm));
      return out;
    });
    expect(losses[1]).toEqual(losses[0]);
    expectSameRun(runs[0]!, runs[1]!);
  });

  it('a different model seed or data seed gives a different run', () => {
    const trajectory = (s: TrainingSession) => {
      const out: number[] = [];
      s.trainUntil(2, (r) => out.push(r.bitsPerSequence));
      return out;
    };
    const base = trajectory(newSession(2, 3));
    expect(trajectory(newSession(5, 3))).not.toEqual(base);
    expect(trajectory(newSession(2, 4))).not.toEqual(base);
    const [a, b] = [newSession(2, 3), newSession(5, 3)];
    expect(Array.from(parametersOf(a)['lstm0/inputKernel']!.values)).not.toEqual(
      Array.from(parametersOf(b)['lstm0/inputKernel']!.values),
    );
  });

  it('trainUntil counts applied updates only: skipped steps are retried with new batches', () => {
    let draws = 0;
    const flaky: BatchSource = (rng, batchSize) => {
      const batch = copyBatch(rng, batchSize);
      if (++draws !== 2) return batch;
      const inputs = batch.inputs.slice();
      inputs[0] = Number.NaN;
      return { ...batch, inputs };
    };
    const session = newSession(3, 3, undefined, flaky);
    const results: TrainStepResult[] = [];
    session.trainUntil(3, (r) => results.push(r));
    expect(results.map((r) => [r.step, r.skipped])).toEqual([
      [1, false],
      [1, true],
      [2, false],
      [3, false],
    ]);
    expect(session.step).toBe(3);
    expect(session.trainer.skippedSteps).toBe(1);
    session.trainUntil(2); // already there: nothing to do
    expect(draws).toBe(4);
  });

  it('resume refuses a checkpoint without session state, naming the path', async () => {
    const path = join(directory, 'plain.ckpt');
    const model = createModel({ type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes: [2] });
    await saveCheckpoint(path, { model });
    const error = await TrainingSession.resume(path, sample).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MannError);
    expect((error as Error).message).toBe(
      `checkpoint ${path} has no training session state (was it saved by TrainingSession.save?)`,
    );
    await expect(TrainingSession.resume(join(directory, 'none.ckpt'), sample)).rejects.toThrow(
      /^cannot read checkpoint .*none\.ckpt/,
    );
  });

  it('rejects a bad batch size or target step, naming them', () => {
    const model = createModel({ type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes: [2] });
    expect(() => new TrainingSession({ model, sample, batchSize: 0 })).toThrow(MannError);
    expect(() => new TrainingSession({ model, sample, batchSize: 0 })).toThrow(
      'batchSize must be an integer >= 1, got 0',
    );
    const session = new TrainingSession({ model, sample, batchSize: 2 });
    expect(() => session.trainUntil(-1)).toThrow('step must be an integer >= 0, got -1');
    expect(() => session.trainUntil(1.5)).toThrow('step must be an integer >= 0, got 1.5');
  });

  it('dispose frees the model and the optimizer state', () => {
    const before = tf.memory().numTensors;
    const session = newSession(4, 4);
    session.trainUntil(1);
    session.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const rng = new Rng(0);
    expect(() => session.sample(rng, 1)).not.toThrow(); // the data source is plain JS
  });
});
