import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import { headLayout, interfaceSize, splitInterface } from '@mann/ntm';
import { maxDifference, toArray } from './oracle.js';

beforeAll(async () => {
  await selectBackend();
});

const softplus = (x: number): number => Math.log1p(Math.exp(x));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

describe('head layout', () => {
  it("declares every head's fields, and the write heads' erase and add", () => {
    const layout = headLayout(20, 1, 1, 1);
    expect(layout.addressing).toEqual({ key: 20, beta: 1, gate: 1, shift: 3, gamma: 1 });
    expect(layout.writing).toEqual({ erase: 20, add: 20 });
    expect(Object.keys(layout.addressing)).toEqual(['key', 'beta', 'gate', 'shift', 'gamma']);
  });

  it('sizes the interface as (R + Hw)(W + S + 3) + 2 Hw W', () => {
    expect(interfaceSize(headLayout(20, 1, 1, 1))).toBe(2 * 26 + 40);
    expect(interfaceSize(headLayout(8, 2, 3, 2))).toBe(5 * (8 + 5 + 3) + 2 * 2 * 8);
    expect(interfaceSize(headLayout(4, 0, 2, 0))).toBe(2 * 8);
  });
});

describe('splitInterface', () => {
  // W = 2, S = 3, R = 1, Hw = 1: addressing blocks of 8 for 2 heads, then erase (2), add (2)
  const layout = headLayout(2, 1, 1, 1);
  const vector = Array.from({ length: interfaceSize(layout) }, (_, i) => (i - 10) / 4);

  it('takes each field from its place in the vector and applies its activation', () => {
    tf.tidy(() => {
      const heads = splitInterface(tf.tensor2d([vector]), layout, {
        key: 'none',
        strength: 'softplus',
      });
      const v = (i: number): number => vector[i] as number;
      const field = (x: tf.Tensor, expected: unknown): void => {
        expect(maxDifference(toArray(x), expected)).toBeLessThan(1e-5);
      };
      field(heads.key, [
        [
          [v(0), v(1)],
          [v(8), v(9)],
        ],
      ]);
      field(heads.beta, [[softplus(v(2)), softplus(v(10))]]);
      field(heads.gate, [[sigmoid(v(3)), sigmoid(v(11))]]);
      const softmax = (xs: number[]): number[] => {
        const e = xs.map(Math.exp);
        const s = e.reduce((a, b) => a + b, 0);
        return e.map((x) => x / s);
      };
      field(heads.shift, [[softmax([v(4), v(5), v(6)]), softmax([v(12), v(13), v(14)])]]);
      field(heads.gamma, [[1 + softplus(v(7)), 1 + softplus(v(15))]]);
      field(heads.erase, [[[sigmoid(v(16)), sigmoid(v(17))]]]);
      field(heads.add, [[[v(18), v(19)]]]);
    });
  });

  it('applies the configured key and strength activations', () => {
    tf.tidy(() => {
      const heads = splitInterface(tf.tensor2d([vector]), layout, {
        key: 'tanh',
        strength: 'oneplus',
      });
      expect(heads.key.dataSync()[0]).toBeCloseTo(Math.tanh(vector[0] as number), 5);
      expect(heads.beta.dataSync()[0]).toBeCloseTo(1 + softplus(vector[2] as number), 5);
    });
  });

  it('gives empty erase and add with no write heads, and rejects a wrong width', () => {
    tf.tidy(() => {
      const readOnly = headLayout(3, 1, 2, 0);
      const heads = splitInterface(tf.zeros([4, interfaceSize(readOnly)]), readOnly, {
        key: 'none',
        strength: 'softplus',
      });
      expect(heads.key.shape).toEqual([4, 2, 3]);
      expect(heads.erase.shape).toEqual([4, 0, 3]);
      expect(() =>
        splitInterface(tf.zeros([4, 5]), readOnly, { key: 'none', strength: 'softplus' }),
      ).toThrow(/interfaceVector must have shape \[\*, 18\].*got \[4, 5\]/);
    });
  });

  it('has gradients when a loss uses only some of the fields', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([vector]);
      const grad = tf.grad((v: tf.Tensor) => {
        const heads = splitInterface(v as tf.Tensor2D, layout, {
          key: 'none',
          strength: 'softplus',
        });
        return tf.sum(heads.erase);
      })(x);
      const g = Array.from(grad.dataSync());
      expect(g.slice(16, 18).every((v) => v > 0)).toBe(true);
      expect(g.filter((_, i) => i < 16 || i >= 18).every((v) => v === 0)).toBe(true);
    });
  });
});
