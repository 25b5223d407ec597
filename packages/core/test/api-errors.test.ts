// The programmatic API names the argument and what it expected for values of the wrong kind,
// instead of a bare TypeError or silently training on them.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createModel,
  MannError,
  Rng,
  selectBackend,
  Trainer,
  type SequenceBatch,
} from '@mann/core';
import { copyBatch } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const lstm = () =>
  createModel({ type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes: [3] }, { seed: 1 });

const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
};

describe('model.run and model.step', () => {
  it('name a plain array, undefined, a disposed or an int32 tensor', () => {
    const model = lstm();
    const cases: [unknown, string][] = [
      [[[[0, 0, 0, 0, 0]]], 'inputs must be a tf.Tensor [B, T, inputSize], got a plain Array'],
      [undefined, 'inputs must be a tf.Tensor [B, T, inputSize], got undefined'],
      [null, 'inputs must be a tf.Tensor [B, T, inputSize], got null'],
    ];
    for (const [value, message] of cases) {
      const error = errorOf(() => model.run(value as tf.Tensor3D));
      expect(error).toBeInstanceOf(MannError);
      expect(error.message).toBe(message);
    }
    const disposed = tf.zeros([1, 2, 5]) as tf.Tensor3D;
    disposed.dispose();
    expect(() => model.run(disposed)).toThrow('inputs is a disposed tensor');
    const ints = tf.zeros([1, 2, 5], 'int32') as tf.Tensor3D;
    expect(() => model.run(ints)).toThrow('inputs must have dtype float32, got int32');
    const bools = tf.zeros([1, 5], 'bool') as tf.Tensor2D;
    expect(() => model.step(bools, model.initialState(1))).toThrow(
      'input must have dtype float32, got bool',
    );
    ints.dispose();
    bools.dispose();
    model.dispose();
  });
});

describe('trainer.trainStep', () => {
  let trainer: Trainer;
  let good: SequenceBatch;
  beforeAll(() => {
    trainer = new Trainer(lstm(), { optimizer: { kind: 'adam' } });
    good = copyBatch(new Rng(1), 2);
  });

  it('names a missing batch and arrays of the wrong type', () => {
    expect(() => trainer.trainStep(null as unknown as SequenceBatch)).toThrow(
      'batch must be a SequenceBatch { batchSize, steps, inputWidth, outputWidth, inputs, targets, mask }, got null',
    );
    expect(() =>
      trainer.trainStep({
        ...good,
        inputs: Int32Array.from(good.inputs) as unknown as Float32Array,
      }),
    ).toThrow('batch.inputs must be a Float32Array, got an instance of Int32Array');
    expect(() =>
      trainer.trainStep({ ...good, targets: Array.from(good.targets) as unknown as Float32Array }),
    ).toThrow('batch.targets must be a Float32Array, got an Array');
  });

  it('rejects targets or mask values outside [0, 1], naming the index', () => {
    const targets = good.targets.slice();
    targets[3] = 2;
    expect(() => trainer.trainStep({ ...good, targets })).toThrow(
      'batch.targets must hold values in [0, 1], got 2 at index 3',
    );
    const mask = good.mask.slice();
    mask[1] = -1;
    expect(() => trainer.trainStep({ ...good, mask })).toThrow(
      'batch.mask must hold values in [0, 1], got -1 at index 1',
    );
    expect(trainer.step).toBe(0);
  });
});
