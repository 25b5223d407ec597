import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assertFinite,
  CONTENT_EPSILON,
  contentWeights,
  cosineSimilarity,
  MannError,
  Rng,
  selectBackend,
} from '@mann/core';
import { gradientCheck, maxAbsDifference, onCpuAndWasm, tensorsLeaked } from '@mann/core/testing';
import { expectClose, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

interface Sizes {
  readonly B: number;
  readonly H: number;
  readonly N: number;
  readonly W: number;
}

/**
 * Content addressing written out from SPEC section 1 in float64:
 * |x| = sqrt(sum x^2 + 1e-6), cos = a.b / (|a||b| + 1e-6), w = softmax_i(beta cos(k, M[i])),
 * with the DNC-MD mask applied to both sides when given.
 */
function contentOracle(
  { B, H, N, W }: Sizes,
  memory: ArrayLike<number>,
  keys: ArrayLike<number>,
  strengths: ArrayLike<number>,
  mask?: ArrayLike<number>,
): { cos: number[]; weights: number[] } {
  const eps = 1e-6;
  const cos: number[] = [];
  const weights: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const m = (w: number) => (mask ? (mask[(b * H + h) * W + w] as number) : 1);
      const key = Array.from({ length: W }, (_, w) => (keys[(b * H + h) * W + w] as number) * m(w));
      const keyNorm = Math.sqrt(key.reduce((s, x) => s + x * x, 0) + eps);
      const row: number[] = [];
      for (let i = 0; i < N; i++) {
        const slot = Array.from(
          { length: W },
          (_, w) => (memory[(b * N + i) * W + w] as number) * m(w),
        );
        const slotNorm = Math.sqrt(slot.reduce((s, x) => s + x * x, 0) + eps);
        const dot = slot.reduce((s, x, w) => s + x * (key[w] as number), 0);
        row.push(dot / (keyNorm * slotNorm + eps));
      }
      const beta = strengths[b * H + h] as number;
      const top = Math.max(...row.map((c) => beta * c));
      const exps = row.map((c) => Math.exp(beta * c - top));
      const total = exps.reduce((s, x) => s + x, 0);
      cos.push(...row);
      weights.push(...exps.map((e) => e / total));
    }
  }
  return { cos, weights };
}

function randomCase(seed: number, sizes: Sizes) {
  const rng = new Rng(seed);
  const { B, H, N, W } = sizes;
  return {
    memory: uniformArray(rng, B * N * W, -1, 1),
    keys: uniformArray(rng, B * H * W, -1, 1),
    strengths: uniformArray(rng, B * H, 0.5, 5),
    mask: uniformArray(rng, B * H * W, 0, 1),
    readout: uniformArray(rng, B * H * N, -1, 1),
  };
}

const sizes: Sizes = { B: 2, H: 3, N: 5, W: 4 };
/** Zeros of any shape, typed as rank 3 so that a wrong rank reaches the runtime check. */
const shaped = (shape: number[]) => tf.zeros(shape) as tf.Tensor as tf.Tensor3D;
const t3 = (values: Float32Array, shape: [number, number, number]) => tf.tensor3d(values, shape);

describe('contentWeights', () => {
  it('matches a hand-computed 1 x 1 x N case', () => {
    // M = [[1, 0], [0, 1], [0, 0]], k = [1, 0], beta = 2: cos = [1 / (1 + 2e-6), 0, 0], so
    // w = [e^(2 cos0), 1, 1] / (e^(2 cos0) + 2).
    const w = contentWeights(
      tf.tensor3d([1, 0, 0, 1, 0, 0], [1, 3, 2]),
      tf.tensor3d([1, 0], [1, 1, 2]),
      tf.tensor2d([2], [1, 1]),
    );
    expect(w.shape).toEqual([1, 1, 3]);
    expectClose(w.dataSync(), [0.7869853716, 0.1065073142, 0.1065073142], 1e-6);
    // Rows of different norms: [6, 8] against [3, 4], [-4, 3], [0, 0], [-3, -4] gives
    // cos = [1, 0, 0, -1] (up to eps), w = [e, 1, 1, 1/e] / (e + 2 + 1/e) for beta = 1.
    const memory = tf.tensor3d([3, 4, -4, 3, 0, 0, -3, -4], [1, 4, 2]);
    const keys = tf.tensor3d([6, 8], [1, 1, 2]);
    expectClose(cosineSimilarity(memory, keys).dataSync(), [1, 0, 0, -1], 1e-6);
    expectClose(
      contentWeights(memory, keys, tf.tensor2d([1], [1, 1])).dataSync(),
      [0.5344466325, 0.1966119373, 0.1966119373, 0.0723294929],
      1e-6,
    );
  });

  it('matches a loop implementation of SPEC section 1, and rows sum to 1', () => {
    const c = randomCase(1, sizes);
    const expected = contentOracle(sizes, c.memory, c.keys, c.strengths);
    const memory = t3(c.memory, [2, 5, 4]);
    const keys = t3(c.keys, [2, 3, 4]);
    const w = contentWeights(memory, keys, tf.tensor2d(c.strengths, [2, 3]));
    expect(w.shape).toEqual([2, 3, 5]);
    expectClose(cosineSimilarity(memory, keys).dataSync(), expected.cos, 1e-6, 'cos');
    expectClose(w.dataSync(), expected.weights, 1e-6, 'weights');
    const values = w.dataSync();
    for (let row = 0; row < 6; row++) {
      const slice = Array.from(values.slice(row * 5, row * 5 + 5));
      expect(Math.abs(slice.reduce((s, x) => s + x, 0) - 1)).toBeLessThan(1e-6);
      expect(Math.min(...slice)).toBeGreaterThan(0);
    }
  });

  it('with a mask matches the loop implementation of cos(k * m, M[i] * m)', () => {
    const c = randomCase(2, sizes);
    const expected = contentOracle(sizes, c.memory, c.keys, c.strengths, c.mask);
    const memory = t3(c.memory, [2, 5, 4]);
    const keys = t3(c.keys, [2, 3, 4]);
    const mask = t3(c.mask, [2, 3, 4]);
    expectClose(cosineSimilarity(memory, keys, mask).dataSync(), expected.cos, 1e-6, 'cos');
    expectClose(
      contentWeights(memory, keys, tf.tensor2d(c.strengths, [2, 3]), mask).dataSync(),
      expected.weights,
      1e-6,
      'weights',
    );
    // an all-ones mask is no mask
    expectClose(
      cosineSimilarity(memory, keys, tf.onesLike(mask) as tf.Tensor3D).dataSync(),
      cosineSimilarity(memory, keys).dataSync(),
      1e-7,
    );
  });

  it('passes finite-difference gradient checks w.r.t. memory, keys, strengths and mask', () => {
    const c = randomCase(3, sizes);
    const readout = t3(c.readout, [2, 3, 5]);
    const loss = (m: tf.Tensor, k: tf.Tensor, b: tf.Tensor, mask?: tf.Tensor) =>
      tf.sum(
        tf.mul(
          contentWeights(
            m as tf.Tensor3D,
            k as tf.Tensor3D,
            b as tf.Tensor2D,
            mask as tf.Tensor3D | undefined,
          ),
          readout,
        ),
      ) as tf.Scalar;
    const inputs = [
      t3(c.memory, [2, 5, 4]),
      t3(c.keys, [2, 3, 4]),
      tf.tensor2d(c.strengths, [2, 3]),
    ];
    const plain = gradientCheck((m, k, b) => loss(m!, k!, b!), inputs);
    expect(plain.ok, JSON.stringify(plain.worst)).toBe(true);
    expect(plain.checked).toBe(40 + 24 + 6);
    const masked = gradientCheck(
      (m, k, b, mask) => loss(m!, k!, b!, mask!),
      [...inputs, t3(c.mask, [2, 3, 4])],
    );
    expect(masked.ok, JSON.stringify(masked.worst)).toBe(true);
    expect(masked.checked).toBe(40 + 24 + 6 + 24);
  });

  describe('all-zero memory rows and keys', () => {
    // batch 0: rows 0 and 3 are zero; batch 1: the whole memory is zero. Head 1 has a zero key.
    const c = randomCase(4, sizes);
    const memoryValues = c.memory.slice();
    for (const row of [0, 3, 5, 6, 7, 8, 9]) memoryValues.fill(0, row * 4, row * 4 + 4);
    const keyValues = c.keys.slice();
    for (const b of [0, 1]) keyValues.fill(0, (b * 3 + 1) * 4, (b * 3 + 2) * 4);
    const maskValues = c.mask.slice();
    maskValues.fill(0, 2 * 4, 3 * 4); // batch 0, head 2: mask all zero

    const args = () =>
      [
        t3(memoryValues, [2, 5, 4]),
        t3(keyValues, [2, 3, 4]),
        tf.tensor2d(c.strengths, [2, 3]),
        t3(maskValues, [2, 3, 4]),
      ] as const;

    it('give finite weights: uniform for a zero key, a zero mask or an all-zero memory', () => {
      for (const masked of [false, true]) {
        const [m, k, b, mask] = args();
        const w = contentWeights(m, k, b, masked ? mask : undefined);
        assertFinite('w', w);
        const values = w.dataSync();
        const expected = contentOracle(
          sizes,
          memoryValues,
          keyValues,
          c.strengths,
          masked ? maskValues : undefined,
        );
        expectClose(values, expected.weights, 1e-6);
        const uniformRows = masked ? [1, 2, 3, 4, 5] : [1, 3, 4, 5];
        for (const row of uniformRows) {
          expectClose(values.slice(row * 5, row * 5 + 5), [0.2, 0.2, 0.2, 0.2, 0.2], 1e-7);
        }
      }
    });

    it('give finite gradients that agree with float64 finite differences of the loop oracle', () => {
      const readout = t3(c.readout, [2, 3, 5]);
      const [m, k, b, mask] = args();
      for (const masked of [false, true]) {
        const grads = tf.grads((...x: tf.Tensor[]) =>
          tf.sum(
            tf.mul(
              contentWeights(
                x[0] as tf.Tensor3D,
                x[1] as tf.Tensor3D,
                x[2] as tf.Tensor2D,
                x[3] as tf.Tensor3D | undefined,
              ),
              readout,
            ),
          ),
        )(masked ? [m, k, b, mask] : [m, k, b]);
        grads.forEach((g, i) => assertFinite(`gradient ${i}`, g));
        // d loss / d input by central differences of the float64 oracle (step 1e-7)
        const base = [memoryValues, keyValues, c.strengths, maskValues].map((a) => Array.from(a));
        const lossOf = (inputs: number[][]) => {
          const { weights } = contentOracle(
            sizes,
            inputs[0]!,
            inputs[1]!,
            inputs[2]!,
            masked ? inputs[3] : undefined,
          );
          return weights.reduce((s, w, i) => s + w * (c.readout[i] as number), 0);
        };
        const which = masked ? [0, 1, 2, 3] : [0, 1, 2];
        for (const input of which) {
          const analytic = grads[input]!.dataSync();
          const numeric = base[input]!.map((_, j) => {
            const plus = base.map((a) => [...a]);
            const minus = base.map((a) => [...a]);
            plus[input]![j]! += 1e-7;
            minus[input]![j]! -= 1e-7;
            return (lossOf(plus) - lossOf(minus)) / 2e-7;
          });
          numeric.forEach((n, j) => {
            const label = `input ${input} element ${j} (masked: ${masked}): ${analytic[j]} vs ${n}`;
            expect(Math.abs((analytic[j] as number) - n), label).toBeLessThan(
              1e-4 + 1e-3 * Math.abs(n),
            );
          });
        }
      }
    });
  });

  it('gives the same values and gradients on cpu and wasm', async () => {
    const c = randomCase(5, sizes);
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const memory = t3(c.memory, [2, 5, 4]);
      const keys = t3(c.keys, [2, 3, 4]);
      const strengths = tf.tensor2d(c.strengths, [2, 3]);
      const mask = t3(c.mask, [2, 3, 4]);
      const readout = t3(c.readout, [2, 3, 5]);
      const f = (m: tf.Tensor, k: tf.Tensor, b: tf.Tensor, ma: tf.Tensor) =>
        tf.sum(
          tf.mul(
            contentWeights(m as tf.Tensor3D, k as tf.Tensor3D, b as tf.Tensor2D, ma as tf.Tensor3D),
            readout,
          ),
        );
      return [
        contentWeights(memory, keys, strengths),
        contentWeights(memory, keys, strengths, mask),
        ...tf.grads(f)([memory, keys, strengths, mask]),
      ];
    });
    expect(cpu).toHaveLength(6);
    cpu.forEach((reference, i) => {
      expect(maxAbsDifference(reference, wasm[i]!), `output ${i}`).toBeLessThan(1e-5);
    });
  });

  it('leaves no intermediate tensors behind', async () => {
    const c = randomCase(6, sizes);
    const memory = t3(c.memory, [2, 5, 4]);
    const keys = t3(c.keys, [2, 3, 4]);
    const strengths = tf.tensor2d(c.strengths, [2, 3]);
    const mask = t3(c.mask, [2, 3, 4]);
    expect(await tensorsLeaked(() => contentWeights(memory, keys, strengths, mask).dispose())).toBe(
      0,
    );
    expect(await tensorsLeaked(() => contentWeights(memory, keys, strengths).dispose())).toBe(0);
  });

  it('rejects bad shapes with an error naming the argument and its shape', () => {
    const memory = shaped([2, 5, 4]);
    const keys = shaped([2, 3, 4]);
    const strengths = tf.ones([2, 3]) as tf.Tensor2D;
    const cases: [() => unknown, string][] = [
      [
        () => contentWeights(shaped([4, 20]), keys, strengths),
        'memory must be rank 3 [B, N, W], got [4, 20]',
      ],
      [
        () => contentWeights(memory, shaped([2, 4]), strengths),
        'keys must be rank 3 [B, H, W], got [2, 4]',
      ],
      [
        () => contentWeights(memory, shaped([2, 3, 5]), strengths),
        'keys must have shape [2, *, 4] [B, H, W], got [2, 3, 5]',
      ],
      [
        () => contentWeights(memory, shaped([1, 3, 4]), strengths),
        'keys must have shape [2, *, 4] [B, H, W], got [1, 3, 4]',
      ],
      [
        () => contentWeights(memory, keys, tf.ones([2, 2]) as tf.Tensor2D),
        'strengths must have shape [2, 3] [B, H], got [2, 2]',
      ],
      [
        () => contentWeights(memory, keys, tf.ones([2, 3, 1]) as unknown as tf.Tensor2D),
        'strengths must be rank 2 [B, H], got [2, 3, 1]',
      ],
      [
        () => contentWeights(memory, keys, strengths, tf.ones([2, 3, 5]) as tf.Tensor3D),
        'mask must have shape [2, 3, 4] [B, H, W], got [2, 3, 5]',
      ],
      [
        () => cosineSimilarity(memory, shaped([3, 3, 4])),
        'keys must have shape [2, *, 4] [B, H, W], got [3, 3, 4]',
      ],
    ];
    for (const [call, message] of cases) {
      expect(call).toThrow(MannError);
      expect(call).toThrow(message);
    }
  });
});

describe('assertFinite', () => {
  it('names the tensor, the value and where it is', () => {
    expect(CONTENT_EPSILON).toBe(1e-6);
    expect(() => assertFinite('w', tf.tensor([1, 2, 3]))).not.toThrow();
    expect(() => assertFinite('w', tf.tensor([1, 2, Number.NaN]))).toThrow(
      'w has a non-finite value NaN at flat index 2',
    );
    expect(() => assertFinite('w', tf.tensor([-Infinity, 0]))).toThrow(
      'w has a non-finite value -Infinity at flat index 0',
    );
  });
});
