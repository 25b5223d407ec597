import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchTensors, maskedBitsPerSequence, Rng, selectBackend } from '@mann/core';
import { maxAbsDifference, onCpuAndWasm, withBackend, copyBatch } from '@mann/core/testing';
import { createNtm, interpolate, readMemory, sharpen, shiftWeights, writeMemory } from '@mann/ntm';
import { randomDistribution, randomTensor } from './oracle.js';
import { weightedSum } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

/** Asserts that every output agrees between cpu (the reference) and wasm. */
function expectParity(
  result: { cpu: Float32Array[]; wasm: Float32Array[] },
  tolerance = 1e-5,
): void {
  expect(result.wasm.length).toBe(result.cpu.length);
  result.cpu.forEach((cpu, i) => {
    expect(maxAbsDifference(cpu, result.wasm[i] as Float32Array), `output ${i}`).toBeLessThan(
      tolerance,
    );
  });
}

describe('cpu vs wasm parity', () => {
  it('addressing and memory functions, values and gradients', async () => {
    const result = await onCpuAndWasm(() => {
      const rng = new Rng(31);
      const w = randomDistribution<tf.Tensor3D>(rng, [2, 3, 7], 0.05);
      const c = randomDistribution<tf.Tensor3D>(rng, [2, 3, 7]);
      const g = randomTensor<tf.Tensor2D>(rng, [2, 3], 0, 1);
      const s = randomDistribution<tf.Tensor3D>(rng, [2, 3, 5]);
      const gamma = randomTensor<tf.Tensor2D>(rng, [2, 3], 1, 4);
      const m = randomTensor<tf.Tensor3D>(rng, [2, 7, 4]);
      const e = randomTensor<tf.Tensor3D>(rng, [2, 3, 4], 0, 1);
      const a = randomTensor<tf.Tensor3D>(rng, [2, 3, 4]);
      const pipeline = (...x: tf.Tensor[]): tf.Scalar => {
        const [w0, c0, g0, s0, gamma0, m0, e0, a0] = x as [
          tf.Tensor3D,
          tf.Tensor3D,
          tf.Tensor2D,
          tf.Tensor3D,
          tf.Tensor2D,
          tf.Tensor3D,
          tf.Tensor3D,
          tf.Tensor3D,
        ];
        const weights = sharpen(shiftWeights(interpolate(c0, w0, g0), s0), gamma0);
        return tf.add(
          weightedSum(readMemory(m0, weights)),
          weightedSum(writeMemory(m0, weights, e0, a0), 2),
        );
      };
      const inputs = [w, c, g, s, gamma, m, e, a];
      return [
        interpolate(c, w, g),
        shiftWeights(w, s),
        sharpen(w, gamma),
        readMemory(m, w),
        writeMemory(m, w, e, a),
        ...tf.grads(pipeline)(inputs),
      ];
    });
    expectParity(result);
  });

  it('a whole NTM: outputs, traces and parameter gradients on a copy batch', async () => {
    const batch = copyBatch(new Rng(32), 3, 4, 1, 3);
    const run = (): Float32Array[] => {
      const model = createNtm(
        {
          inputSize: 5,
          outputSize: 4,
          controller: { hiddenSizes: [10] },
          memorySlots: 6,
          memoryWidth: 4,
          readHeads: 2,
        },
        { seed: 32 },
      );
      try {
        return tf.tidy(() => {
          const { inputs, targets, mask } = batchTensors(batch);
          const { outputs, traces = {} } = model.run(inputs, { trace: true });
          const variables = model.parameters.entries().map(([, v]) => v);
          const { grads } = tf.variableGrads(
            () => maskedBitsPerSequence(model.run(inputs).outputs, targets, mask),
            variables,
          );
          return [
            outputs,
            traces['readWeights'] as tf.Tensor,
            traces['writeWeights'] as tf.Tensor,
            ...variables.map((v) => grads[v.name] as tf.Tensor),
          ].map((t) => t.dataSync().slice() as Float32Array);
        });
      } finally {
        model.dispose();
      }
    };
    const cpu = await withBackend('cpu', run);
    const wasm = await withBackend('wasm', run);
    expectParity({ cpu, wasm }, 1e-4);
  });
});
