import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchTensors,
  createModel,
  DEFAULT_CLIP_NORM,
  DEFAULT_MAX_BAD_STEPS,
  MannError,
  maskedBitsPerSequence,
  predict,
  type RecurrentModel,
  Rng,
  scoreSequences,
  selectBackend,
  type SequenceBatch,
  Trainer,
  type TrainerOptions,
  validateBatch,
} from '@mann/core';
import { maxAbsDifference, withBackend } from '@mann/core/testing';
import { expectBitwiseEqual, expectClose, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const [B, T, I, O] = [4, 5, 3, 2];

function tinyBatch(seed: number): SequenceBatch {
  const rng = new Rng(seed);
  return {
    batchSize: B,
    steps: T,
    inputWidth: I,
    outputWidth: O,
    inputs: uniformArray(rng, B * T * I, -1, 1),
    targets: rng.fill(B * T * O, (r) => r.bernoulli()),
    mask: new Float32Array([0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]),
  };
}

function nanBatch(): SequenceBatch {
  const batch = tinyBatch(99);
  const inputs = batch.inputs.slice();
  inputs[4] = Number.NaN;
  return { ...batch, inputs };
}

const tinyModel = (seed = 1) =>
  createModel({ type: 'lstm', inputSize: I, outputSize: O, hiddenSizes: [6] }, { seed });

const snapshotOf = (model: RecurrentModel) => model.parameters.snapshot();

function expectSameParameters(
  a: ReturnType<typeof snapshotOf>,
  b: ReturnType<typeof snapshotOf>,
): void {
  expect(Object.keys(a)).toEqual(Object.keys(b));
  for (const name of Object.keys(a)) expectBitwiseEqual(a[name]!.values, b[name]!.values, name);
}

/** Loss and raw gradients of `model` on `batch`, computed outside the Trainer. */
function lossAndGradients(model: RecurrentModel, batch: SequenceBatch) {
  return tf.tidy(() => {
    const { inputs, targets, mask } = batchTensors(batch);
    const entries = model.parameters.entries();
    const { value, grads } = tf.variableGrads(
      () => maskedBitsPerSequence(model.run(inputs).outputs, targets, mask),
      entries.map(([, v]) => v),
    );
    const gradients: Record<string, Float32Array> = {};
    for (const [name, v] of entries) {
      gradients[name] = grads[v.name]!.dataSync().slice() as Float32Array;
    }
    return { loss: value.dataSync()[0] as number, gradients };
  });
}

describe('Trainer', () => {
  it('reduces the loss on a tiny problem', () => {
    const model = tinyModel();
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 0.05 } });
    const batch = tinyBatch(1);
    const first = trainer.trainStep(batch);
    let last = first;
    for (let i = 0; i < 39; i++) last = trainer.trainStep(batch);
    expect(last.step).toBe(40);
    expect(trainer.step).toBe(40);
    expect(last.skipped).toBe(false);
    expect(last.bitsPerSequence).toBeLessThan(0.3 * first.bitsPerSequence);
    expect(trainer.evaluate(batch).bitsPerSequence).toBeLessThan(last.bitsPerSequence);
  });

  it('reports the loss and gradient norm from before the update', () => {
    const model = tinyModel(2);
    const batch = tinyBatch(2);
    const { loss, gradients } = lossAndGradients(model, batch);
    const norm = Math.sqrt(
      Object.values(gradients).reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0),
    );
    const result = new Trainer(model).trainStep(batch);
    expect(result.bitsPerSequence).toBeCloseTo(loss, 5);
    expect(result.gradNorm).toBeCloseTo(norm, 5);
    expect(result).toMatchObject({ step: 1, skipped: false });
  });

  it('reports the norm of the raw gradients, before element-wise clipping', () => {
    const model = tinyModel(2);
    const batch = tinyBatch(2);
    const { gradients } = lossAndGradients(model, batch);
    const norm = Math.sqrt(
      Object.values(gradients).reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0),
    );
    const limit = 1e-4;
    // Clipped element-wise, the norm could be at most limit * sqrt(#parameters).
    expect(norm).toBeGreaterThan(limit * Math.sqrt(model.parameters.count()) * 10);
    const result = new Trainer(model, { clipGradientValue: limit }).trainStep(batch);
    expect(result.gradNorm).toBeCloseTo(norm, 5);
  });

  describe('applies clipped gradients', () => {
    // RMSProp with decay 0.5, no momentum and epsilon 1 from zero state moves each parameter by
    // -lr g / sqrt(0.5 g^2 + 1): the step depends on the scale of g, so clipping is visible.
    const optimizer = {
      kind: 'rmsprop',
      learningRate: 0.1,
      decay: 0.5,
      momentum: 0,
      epsilon: 1,
    } as const;

    const expectUpdate = (options: TrainerOptions, clip: (g: number[][]) => number[][]) => {
      const model = tinyModel(3);
      const batch = tinyBatch(3);
      const before = snapshotOf(model);
      const { gradients } = lossAndGradients(model, batch);
      const names = Object.keys(gradients);
      const clipped = clip(names.map((n) => Array.from(gradients[n]!)));
      new Trainer(model, { optimizer, ...options }).trainStep(batch);
      const after = snapshotOf(model);
      names.forEach((name, k) => {
        const expected = Array.from(before[name]!.values, (theta, i) => {
          const g = clipped[k]![i]!;
          return theta - (0.1 * g) / Math.sqrt(0.5 * g * g + 1);
        });
        expectClose(after[name]!.values, expected, 2e-6, name);
      });
      return gradients;
    };
    const globalNorm = (g: number[][]) => Math.sqrt(g.flat().reduce((s, x) => s + x * x, 0));

    it('with global-norm clipping', () => {
      const model = tinyModel(3);
      const raw = Object.values(lossAndGradients(model, tinyBatch(3)).gradients).map((g) =>
        Array.from(g),
      );
      const maxNorm = globalNorm(raw) / 10;
      expectUpdate({ clipNorm: maxNorm }, (g) => g.map((t) => t.map((x) => x / 10)));
    });

    it('without clipping (clipNorm 0 disables it)', () => {
      expectUpdate({ clipNorm: 0 }, (g) => g);
    });

    it('with element-wise clipping, then the global norm', () => {
      const limit = 0.05;
      expectUpdate({ clipGradientValue: limit, clipNorm: 0.1 }, (g) => {
        const elementwise = g.map((t) => t.map((x) => Math.max(-limit, Math.min(limit, x))));
        const scale = Math.min(1, 0.1 / globalNorm(elementwise));
        return elementwise.map((t) => t.map((x) => x * scale));
      });
    });
  });

  it('leaks no tensors across training steps and evaluations', () => {
    const model = tinyModel(4);
    const trainer = new Trainer(model, { optimizer: { kind: 'rmsprop', centered: true } });
    const batch = tinyBatch(4);
    trainer.trainStep(batch); // creates the optimizer slots
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      trainer.trainStep(tinyBatch(10 + i));
      expect(tf.memory().numTensors, `after step ${i + 2}`).toBe(before);
    }
    trainer.trainStep(nanBatch()); // a skipped step must not leak either
    trainer.evaluate(batch);
    predict(model, batch);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('skips a non-finite step, counts it and leaves the parameters and optimizer untouched', () => {
    const model = tinyModel(5);
    const trainer = new Trainer(model);
    trainer.trainStep(tinyBatch(5));
    const parameters = snapshotOf(model);
    const optimizerState = trainer.optimizer.getState();
    const result = trainer.trainStep(nanBatch());
    expect(result.skipped).toBe(true);
    expect(result.step).toBe(1);
    expect(result.bitsPerSequence).toBeNaN();
    expect(trainer.step).toBe(1);
    expect(trainer.skippedSteps).toBe(1);
    expect(trainer.getState().consecutiveBadSteps).toBe(1);
    expectSameParameters(snapshotOf(model), parameters);
    expect(trainer.optimizer.getState()).toEqual(optimizerState);
  });

  it('stops with an error naming the step after more than maxBadSteps consecutive bad steps', () => {
    const model = tinyModel(6);
    const trainer = new Trainer(model, { maxBadSteps: 2 });
    trainer.trainStep(tinyBatch(6));
    const parameters = snapshotOf(model);
    expect(trainer.trainStep(nanBatch()).skipped).toBe(true);
    expect(trainer.trainStep(nanBatch()).skipped).toBe(true);
    let error: unknown;
    try {
      trainer.trainStep(nanBatch());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MannError);
    expect((error as Error).message).toMatch(
      /^training stopped at step 2 \(attempt 4\): 3 consecutive non-finite steps \(loss NaN, gradient norm NaN\)/,
    );
    expect(trainer.skippedSteps).toBe(3);
    expectSameParameters(snapshotOf(model), parameters);
  });

  it('with maxBadSteps 0 stops at the first bad step', () => {
    const trainer = new Trainer(tinyModel(7), { maxBadSteps: 0 });
    expect(() => trainer.trainStep(nanBatch())).toThrow(
      /^training stopped at step 1 \(attempt 1\)/,
    );
  });

  it('a good step resets the count of consecutive bad steps', () => {
    const trainer = new Trainer(tinyModel(8), { maxBadSteps: 2 });
    trainer.trainStep(nanBatch());
    trainer.trainStep(nanBatch());
    expect(trainer.trainStep(tinyBatch(8)).skipped).toBe(false);
    expect(trainer.getState().consecutiveBadSteps).toBe(0);
    trainer.trainStep(nanBatch());
    trainer.trainStep(nanBatch());
    expect(trainer.skippedSteps).toBe(4);
    expect(trainer.step).toBe(1);
    expect(() => trainer.trainStep(nanBatch())).toThrow(
      /^training stopped at step 2 \(attempt 6\)/,
    );
  });

  it('evaluate scores the sigmoid outputs without training', () => {
    const model = tinyModel(9);
    const trainer = new Trainer(model);
    const batch = tinyBatch(9);
    const parameters = snapshotOf(model);
    const result = trainer.evaluate(batch);
    expect(result.probabilities).toHaveLength(B * T * O);
    for (const p of result.probabilities) expect(p > 0 && p < 1).toBe(true);
    expect(result).toMatchObject(scoreSequences(result.probabilities, batch));
    const { loss } = lossAndGradients(model, batch);
    expect(result.bitsPerSequence).toBeCloseTo(loss, 4);
    expectSameParameters(snapshotOf(model), parameters);
    expect(trainer.step).toBe(0);
  });

  it('getState / setState carries the counters and the optimizer state', () => {
    const model = tinyModel(10);
    const trainer = new Trainer(model);
    trainer.trainStep(tinyBatch(10));
    trainer.trainStep(nanBatch());
    const state = trainer.getState();
    expect(state).toMatchObject({ steps: 1, skippedSteps: 1, consecutiveBadSteps: 1 });
    const other = new Trainer(tinyModel(10));
    other.setState(state);
    expect(other.getState()).toEqual(state);
    expect(other.step).toBe(1);
    expect(other.skippedSteps).toBe(1);
  });

  it('takes the same step on cpu and wasm', async () => {
    const run = () => {
      const model = tinyModel(11);
      const trainer = new Trainer(model);
      const result = trainer.trainStep(tinyBatch(11));
      const values = Object.values(snapshotOf(model)).map((p) => p.values);
      trainer.dispose();
      model.dispose();
      return { result, values };
    };
    const cpu = await withBackend('cpu', run);
    const wasm = await withBackend('wasm', run);
    expect(Math.abs(cpu.result.bitsPerSequence - wasm.result.bitsPerSequence)).toBeLessThan(1e-5);
    expect(Math.abs(cpu.result.gradNorm - wasm.result.gradNorm)).toBeLessThan(1e-5);
    cpu.values.forEach((v, i) => expect(maxAbsDifference(v, wasm.values[i]!)).toBeLessThan(1e-6));
  });

  it('has the documented defaults', () => {
    expect(new Trainer(tinyModel()).options).toEqual({
      optimizer: { kind: 'adam', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
      clipNorm: DEFAULT_CLIP_NORM,
      clipGradientValue: 0,
      maxBadSteps: DEFAULT_MAX_BAD_STEPS,
    });
    expect([DEFAULT_CLIP_NORM, DEFAULT_MAX_BAD_STEPS]).toEqual([50, 10]);
  });

  it('rejects bad options, naming the option and the value', () => {
    const model = tinyModel();
    const cases: [object, string | RegExp][] = [
      [{ clipNorm: -1 }, /^clipNorm must be a finite number in \[0, Infinity\], got -1$/],
      [{ clipGradientValue: Number.NaN }, /^clipGradientValue must be .*, got NaN$/],
      [{ maxBadSteps: 1.5 }, 'maxBadSteps must be an integer >= 0, got 1.5'],
      [{ maxBadSteps: -1 }, 'maxBadSteps must be an integer >= 0, got -1'],
      [{ optimizer: { kind: 'sgd' } }, 'optimizer.kind must be one of adam, rmsprop, got sgd'],
      [
        { clipnorm: 5 },
        "unknown trainer option 'clipnorm'; valid options: optimizer, clipNorm, clipGradientValue, maxBadSteps",
      ],
    ];
    for (const [options, message] of cases) {
      const make = () => new Trainer(model, options as TrainerOptions);
      expect(make).toThrow(MannError);
      expect(make).toThrow(message);
    }
  });

  it('rejects a batch whose arrays do not match its sizes, naming the array, without leaking', () => {
    const batch = tinyBatch(12);
    const bad = { ...batch, inputs: batch.inputs.subarray(0, 5) };
    expect(() => validateBatch(bad)).toThrow('batch.inputs has 5 values, expected 60 for B=4, T=5');
    expect(() => validateBatch({ ...batch, mask: new Float32Array(3) })).toThrow(
      'batch.mask has 3 values, expected 20 for B=4, T=5',
    );
    expect(() => validateBatch({ ...batch, targets: new Float32Array(3) })).toThrow(
      'batch.targets has 3 values, expected 40 for B=4, T=5',
    );
    const trainer = new Trainer(tinyModel(12));
    const before = tf.memory().numTensors;
    expect(() => trainer.trainStep(bad)).toThrow(MannError);
    expect(tf.memory().numTensors).toBe(before);
    expect(trainer.step).toBe(0);
  });
});
