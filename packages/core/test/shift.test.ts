import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { circularShift, MannError, Rng, selectBackend } from '@mann/core';
import { gradientCheck, maxAbsDifference, onCpuAndWasm } from '@mann/core/testing';
import { expectBitwiseEqual, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

/** out[..., i, ...] = x[..., (i - shift) mod n, ...] along `axis` of a row-major array. */
function shiftOracle(x: ArrayLike<number>, shape: number[], shift: number, axis: number): number[] {
  const n = shape[axis] as number;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Array<number>(x.length);
  for (let flat = 0; flat < x.length; flat++) {
    const i = Math.floor(flat / inner) % n;
    const source = (((i - shift) % n) + n) % n;
    out[flat] = x[flat + (source - i) * inner] as number;
  }
  return out;
}

describe('circularShift', () => {
  it('moves index i to i + shift (a hand-made case)', () => {
    const x = tf.tensor1d([0, 1, 2, 3, 4]);
    expectBitwiseEqual(circularShift(x, 1).dataSync(), [4, 0, 1, 2, 3]);
    expectBitwiseEqual(circularShift(x, -1).dataSync(), [1, 2, 3, 4, 0]);
    expectBitwiseEqual(circularShift(x, 7).dataSync(), [3, 4, 0, 1, 2]);
  });

  it('matches a loop for positive, negative and over-length shifts on every axis', () => {
    const shape = [2, 3, 5];
    const values = uniformArray(new Rng(1), 30);
    const x = tf.tensor3d(values, [2, 3, 5]);
    for (const axis of [0, 1, 2]) {
      for (let shift = -12; shift <= 12; shift++) {
        const y = circularShift(x, shift, axis);
        expect(y.shape).toEqual(shape);
        expectBitwiseEqual(
          y.dataSync(),
          shiftOracle(values, shape, shift, axis),
          `axis ${axis}, shift ${shift}`,
        );
        y.dispose();
      }
    }
    // negative axis counts from the end
    expectBitwiseEqual(circularShift(x, 2, -2).dataSync(), shiftOracle(values, shape, 2, 1));
    expectBitwiseEqual(circularShift(x, 2).dataSync(), shiftOracle(values, shape, 2, 2));
  });

  it('returns a new tensor for a zero shift (the input stays alive after disposing it)', () => {
    const x = tf.tensor1d([1, 2, 3]);
    for (const shift of [0, 3, -6]) {
      const y = circularShift(x, shift);
      expect(y).not.toBe(x);
      expectBitwiseEqual(y.dataSync(), [1, 2, 3]);
      y.dispose();
      expect(x.isDisposed).toBe(false);
    }
  });

  it('has as gradient the opposite shift of the upstream gradient', () => {
    const rng = new Rng(2);
    const x = tf.tensor2d(uniformArray(rng, 12), [2, 6]);
    const upstream = uniformArray(rng, 12);
    const w = tf.tensor2d(upstream, [2, 6]);
    for (const shift of [-7, -1, 2, 5]) {
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(circularShift(v, shift), w)))(x);
      expectBitwiseEqual(g.dataSync(), shiftOracle(upstream, [2, 6], -shift, 1), `shift ${shift}`);
      const check = gradientCheck((v) => tf.sum(tf.mul(circularShift(v!, shift), w)), [x]);
      expect(check.ok, JSON.stringify(check.worst)).toBe(true);
    }
  });

  it('gives the same values and gradients on cpu and wasm', async () => {
    const rng = new Rng(3);
    const values = uniformArray(rng, 24);
    const weights = uniformArray(rng, 24);
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const x = tf.tensor3d(values, [2, 3, 4]);
      const w = tf.tensor3d(weights, [2, 3, 4]);
      return [
        circularShift(x, 3),
        circularShift(x, -1, 1),
        tf.grad((v: tf.Tensor) => tf.sum(tf.mul(circularShift(v, -5), w)))(x),
      ];
    });
    expectBitwiseEqual(cpu[0]!, shiftOracle(values, [2, 3, 4], 3, 2));
    cpu.forEach((reference, i) => {
      expect(maxAbsDifference(reference, wasm[i]!), `output ${i}`).toBe(0);
    });
  });

  it('rejects a shift that is not an integer, naming it and the value', () => {
    const x = tf.tensor1d([1, 2, 3]);
    expect(() => circularShift(x, 1.5)).toThrow(MannError);
    expect(() => circularShift(x, 1.5)).toThrow('shift must be an integer, got 1.5');
    expect(() => circularShift(x, Number.NaN)).toThrow('shift must be an integer, got NaN');
  });
});
