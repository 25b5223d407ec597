import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { contentWeights, createModel, selectBackend } from '@mann/core';
import { gradientCheck } from '@mann/core/testing';

describe('smoke', () => {
  it('works', async () => {
    const info = await selectBackend();
    expect(info.name).toBe('wasm');
    const m = tf.randomNormal([2, 5, 4]) as tf.Tensor3D;
    const k = tf.randomNormal([2, 3, 4]) as tf.Tensor3D;
    const b = tf.randomUniform([2, 3], 1, 3) as tf.Tensor2D;
    const w = contentWeights(m, k, b);
    expect(w.shape).toEqual([2, 3, 5]);
    const r = gradientCheck((mm, kk, bb) => tf.sum(tf.mul(contentWeights(mm as tf.Tensor3D, kk as tf.Tensor3D, bb as tf.Tensor2D), tf.range(0, 30).reshape([2,3,5]))), [m, k, b]);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    const model = createModel({ type: 'lstm', inputSize: 3, outputSize: 2, hiddenSizes: [8, 8] }, { seed: 1 });
    const x = tf.randomNormal([2, 4, 3]) as tf.Tensor3D;
    const out = model.run(x).outputs;
    let s = model.initialState(2); const steps = [];
    for (const xt of tf.unstack(x, 1)) { const r2 = model.step(xt as tf.Tensor2D, s); s = r2.state; steps.push(r2.output); }
    expect(tf.sub(tf.stack(steps, 1), out).abs().max().dataSync()[0]).toBeLessThan(1e-5);
  });
});
