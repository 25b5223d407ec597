import { describe, expect, it } from 'vitest';
import { MannError, Rng, validateBatch } from '@mann/core';
import type { SequenceBatch } from '@mann/core';
import { createTask, getTaskDefinition, listTasks } from '../src/index.js';
import { maskAt } from './helpers.js';

// Every generated task (bAbI needs files; test/babi.test.ts covers it).
const GENERATED = listTasks().filter((name) => name !== 'babi');

/** Outputs equal to the targets: a perfect model. */
function perfect(batch: SequenceBatch): Float32Array {
  return Float32Array.from(batch.targets);
}

describe.each(GENERATED)('%s', (name) => {
  const task = createTask(name);

  it('gives batches of the declared widths with a 0/1 mask and zero targets off the mask', () => {
    const batch = task.sample(new Rng(1), 6);
    validateBatch(batch);
    expect(batch.batchSize).toBe(6);
    expect(batch.inputWidth).toBe(task.inputWidth);
    expect(batch.outputWidth).toBe(task.outputWidth);
    expect(batch.inputs.length).toBe(6 * batch.steps * task.inputWidth);
    for (const m of batch.mask) expect(m === 0 || m === 1).toBe(true);
    for (let b = 0; b < 6; b++) {
      let answers = 0;
      for (let t = 0; t < batch.steps; t++) {
        answers += maskAt(batch, b, t);
        if (maskAt(batch, b, t) === 1) continue;
        const start = (b * batch.steps + t) * batch.outputWidth;
        expect(batch.targets.subarray(start, start + batch.outputWidth).every((v) => v === 0)).toBe(
          true,
        );
      }
      expect(answers).toBeGreaterThan(0);
    }
  });

  it('gives the same batch for the same seed and different batches for different seeds', () => {
    const a = task.sample(new Rng(7), 4);
    const b = task.sample(new Rng(7), 4);
    const c = task.sample(new Rng(8), 4);
    expect(b.steps).toBe(a.steps);
    expect(b.inputs).toEqual(a.inputs);
    expect(b.targets).toEqual(a.targets);
    expect(b.mask).toEqual(a.mask);
    const same = c.steps === a.steps && c.inputs.every((v, i) => v === a.inputs[i]);
    expect(same).toBe(false);
  });

  it('continues the stream: consecutive batches differ, and a restored rng state repeats them', () => {
    const rng = new Rng(3);
    const state = rng.getState();
    const first = task.sample(rng, 2);
    const second = task.sample(rng, 2);
    expect(first.inputs).not.toEqual(second.inputs);
    expect(task.sample(Rng.fromState(state), 2).inputs).toEqual(first.inputs);
  });

  it('scores perfect outputs as 0 bits, 0 errors, accuracy 1; one flipped bit is one error', () => {
    const batch = task.sample(new Rng(2), 5);
    const outputs = perfect(batch);
    const scores = task.score(outputs, batch);
    expect(scores.bitsPerSequence).toBe(0);
    expect(scores.bitErrorsPerSequence).toBe(0);
    expect(scores.sequenceAccuracy).toBe(1);
    const t = batch.mask.indexOf(1); // first answer step of sequence 0
    outputs[t * batch.outputWidth] = 1 - (outputs[t * batch.outputWidth] as number);
    const flipped = task.score(outputs, batch);
    expect(flipped.bitErrorsPerSequence).toBeCloseTo(1 / 5, 12);
    expect(flipped.sequenceAccuracy).toBeCloseTo(4 / 5, 12);
    // A wrong, certain output costs -log2(1e-12) bits (the floor of scoreSequences).
    expect(flipped.bitsPerSequence).toBeCloseTo(-Math.log2(1e-12) / 5, 6);
  });

  it('scores outputs of 0.5 as one bit per masked target bit', () => {
    const batch = task.sample(new Rng(4), 3);
    const scores = task.score(new Float32Array(batch.targets.length).fill(0.5), batch);
    let masked = 0;
    let zeros = 0;
    for (let i = 0; i < batch.targets.length; i++) {
      if (batch.mask[Math.floor(i / batch.outputWidth)] === 0) continue;
      masked++;
      if (batch.targets[i] === 0) zeros++;
    }
    expect(scores.bitsPerSequence).toBeCloseTo(masked / 3, 9);
    // 0.5 thresholds to 1, so every 0 target is an error.
    expect(scores.bitErrorsPerSequence).toBeCloseTo(zeros / 3, 9);
  });

  it('rejects probabilities of the wrong size and a batch of other widths', () => {
    const batch = task.sample(new Rng(5), 2);
    expect(() => task.score(new Float32Array(3), batch)).toThrow(/probabilities has 3 values/);
    const other: SequenceBatch = {
      ...batch,
      inputWidth: batch.inputWidth + 1,
      inputs: new Float32Array(batch.inputs.length + 2 * batch.steps),
    };
    expect(() => task.score(perfect(batch), other)).toThrow(MannError);
  });

  it('validates batchSize', () => {
    expect(() => task.sample(new Rng(1), 0)).toThrow(/batchSize must be an integer/);
    expect(() => task.sample(new Rng(1), 1.5)).toThrow(MannError);
  });

  it('has generalisation variants that keep the widths and apply their params', () => {
    const definition = getTaskDefinition(name);
    expect(task.generalisation.length).toBeGreaterThan(0);
    expect(task.generalisation).toEqual(Object.keys(definition.variants));
    for (const variantName of task.generalisation) {
      const variant = task.variant(variantName);
      expect(variant.inputWidth).toBe(task.inputWidth);
      expect(variant.outputWidth).toBe(task.outputWidth);
      expect(variant.params).toMatchObject(definition.variants[variantName] as object);
      const batch = variant.sample(new Rng(9), 2);
      validateBatch(batch);
      expect(variant.score(perfect(batch), batch).bitErrorsPerSequence).toBe(0);
    }
    expect(() => task.variant('no-such-variant')).toThrow(
      new RegExp(`valid variants: ${task.generalisation.join(', ')}`),
    );
  });

  it('has params equal to the documented defaults and freezes them', () => {
    expect(task.params).toEqual(getTaskDefinition(name).defaults);
    expect(Object.isFrozen(task.params)).toBe(true);
  });
});
