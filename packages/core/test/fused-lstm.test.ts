// The fused LSTM ops (one op per layer-sequence or per cell step, hand-written gradients)
// against the composed reference (lstmInputProjection + lstmCell), on cpu and wasm.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createModel,
  IMPLEMENTATIONS,
  type Implementation,
  LstmController,
  LstmModel,
  type LstmLayerState,
  type LstmModelConfig,
  type LstmOptions,
  type LstmState,
  type ModelConfig,
  lstmCellFused,
  lstmLayerSequence,
  lstmModelDefinition,
  MannError,
  ParameterStore,
  Rng,
  selectBackend,
  Trainer,
} from '@mann/core';
import { gradientCheck, maxAbsDifference, onCpuAndWasm, tensorsLeaked } from '@mann/core/testing';
import { copyBatch, expectClose, lstmWeights, stackedLstmOracle, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const TOLERANCE = 1e-4;
const INPUT = 5;
const OUTPUT = 4;

const modelConfig = (
  hiddenSizes: number[],
  implementation: Implementation = 'fused',
): LstmModelConfig =>
  lstmModelDefinition.resolveConfig({
    type: 'lstm',
    inputSize: INPUT,
    outputSize: OUTPUT,
    hiddenSizes,
    implementation,
  });

/** Non-zero biases on every gate, so that no gate's bias path goes untested. */
function perturbBiases(layers: readonly { bias: tf.Variable }[], rng: Rng): void {
  for (const layer of layers) {
    tf.tidy(() => layer.bias.assign(tf.tensor1d(uniformArray(rng, layer.bias.size, -0.5, 0.5))));
  }
}

/**
 * Outputs, loss and gradients (every parameter, h_0 and c_0 of every layer) of an LstmModel
 * over a sequence from a non-zero initial state. Parameters depend only on the seed.
 */
function modelRunAndGradients(implementation: Implementation, hiddenSizes: number[]): tf.Tensor[] {
  const model = new LstmModel(modelConfig(hiddenSizes, implementation), new Rng(3));
  const rng = new Rng(11);
  perturbBiases(model.layers, rng);
  const [batch, steps] = [3, 6];
  const x = tf.tensor3d(uniformArray(rng, batch * steps * INPUT, -1, 1), [batch, steps, INPUT]);
  const readout = tf.tensor3d(uniformArray(rng, batch * steps * OUTPUT), [batch, steps, OUTPUT]);
  const initial = hiddenSizes.map((h) => ({
    h: tf.variable(tf.tensor2d(uniformArray(rng, batch * h, -0.8, 0.8), [batch, h])),
    c: tf.variable(tf.tensor2d(uniformArray(rng, batch * h, -1.5, 1.5), [batch, h])),
  }));
  const state: LstmState = { layers: initial as unknown as LstmLayerState[] };
  const variables = [
    ...model.parameters.entries().map(([, v]) => v),
    ...initial.flatMap((s) => [s.h, s.c]),
  ];
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(model.run(x, { initialState: state }).outputs, readout)) as tf.Scalar,
    variables,
  );
  const outputs = model.run(x, { initialState: state }).outputs;
  const result = [outputs, value, ...variables.map((v) => grads[v.name] as tf.Tensor)];
  model.dispose();
  for (const v of initial.flatMap((s) => [s.h, s.c])) v.dispose();
  return result;
}

/**
 * Outputs over four controller steps, the final state, and the gradients of a loss on the
 * outputs and the final c (so dc_T flows in) with respect to the parameters and every x_t.
 */
function controllerStepsAndGradients(implementation: Implementation): tf.Tensor[] {
  const controller = new LstmController(
    new ParameterStore(new Rng(5)).scope('controller'),
    INPUT,
    [6, 4],
    { implementation },
  );
  const rng = new Rng(21);
  perturbBiases(controller.layers, rng);
  const batch = 2;
  const xs = [0, 1, 2, 3].map((): tf.Variable =>
    tf.variable(tf.tensor2d(uniformArray(rng, batch * INPUT, -2, 2), [batch, INPUT])),
  );
  const readout = tf.tensor2d(uniformArray(rng, batch * 4), [batch, 4]);
  const cellReadout = tf.tensor2d(uniformArray(rng, batch * 6), [batch, 6]);
  const forward = (): tf.Tensor[] => {
    let state = controller.initialState(batch);
    const outputs: tf.Tensor[] = [];
    for (const x of xs) {
      const r = controller.step(x as unknown as tf.Tensor2D, state);
      outputs.push(r.output);
      state = r.state;
    }
    const bottom = state.layers[0] as LstmLayerState;
    return [...outputs, bottom.h, bottom.c];
  };
  const parameters = controller.layers.flatMap((l) => [l.inputKernel, l.recurrentKernel, l.bias]);
  const { value, grads } = tf.variableGrads(() => {
    const out = forward();
    const last = out[3] as tf.Tensor;
    const c = out[out.length - 1] as tf.Tensor;
    return tf.add(
      tf.sum(tf.mul(tf.add(last, out[1] as tf.Tensor), readout)),
      tf.sum(tf.mul(c, cellReadout)),
    ) as tf.Scalar;
  }, [...parameters, ...xs]);
  const result = [
    ...forward(),
    value,
    ...[...parameters, ...xs].map((v) => grads[v.name] as tf.Tensor),
  ];
  for (const v of [...parameters, ...xs]) v.dispose();
  return result;
}

/** Asserts fused (first half of each backend's list) matches composed (second half). */
function expectFusedMatchesComposed(results: { cpu: Float32Array[]; wasm: Float32Array[] }) {
  for (const [backend, arrays] of Object.entries(results)) {
    const half = arrays.length / 2;
    for (let i = 0; i < half; i++) {
      const fused = arrays[i] as Float32Array;
      const composed = arrays[half + i] as Float32Array;
      expect(fused.length, `${backend}: result ${i} length`).toBe(composed.length);
      expect(maxAbsDifference(fused, composed), `${backend}: result ${i}`).toBeLessThanOrEqual(
        TOLERANCE,
      );
    }
  }
  // and the fused path agrees across backends
  results.cpu.forEach((reference, i) => {
    expect(maxAbsDifference(reference, results.wasm[i]!), `cpu vs wasm: result ${i}`).toBeLessThan(
      TOLERANCE,
    );
  });
}

describe('LstmModel, fused', () => {
  for (const hiddenSizes of [[7], [6, 5]]) {
    it(`matches the composed reference in outputs and every gradient, ${hiddenSizes.length} layer(s), non-zero initial state`, async () => {
      const results = await onCpuAndWasm(() => [
        ...modelRunAndGradients('fused', hiddenSizes),
        ...modelRunAndGradients('composed', hiddenSizes),
      ]);
      // outputs, loss, 3 per layer + 2 output parameters, h0 and c0 per layer
      expect(results.cpu.length).toBe(
        2 * (2 + 3 * hiddenSizes.length + 2 + 2 * hiddenSizes.length),
      );
      expectFusedMatchesComposed(results);
    });
  }

  it('gives the values of the plain-JS LSTM equations', () => {
    const model = new LstmModel(modelConfig([6, 3]), new Rng(8));
    perturbBiases(model.layers, new Rng(80));
    const [batch, steps] = [2, 5];
    const x = uniformArray(new Rng(81), batch * steps * INPUT, -2, 2);
    const hs = tf.tidy(() =>
      lstmLayerSequence(
        model.layers[1]!,
        lstmLayerSequence(model.layers[0]!, tf.tensor3d(x, [batch, steps, INPUT]), {
          h: tf.zeros([batch, 6]),
          c: tf.zeros([batch, 6]),
        }),
        { h: tf.zeros([batch, 3]), c: tf.zeros([batch, 3]) },
      ).dataSync(),
    );
    const expected = stackedLstmOracle(model.layers.map(lstmWeights), x, batch, steps);
    expectClose(hs, expected, 1e-5, 'top layer h_t');
    model.dispose();
  });

  it('steps to the same outputs as run', () => {
    const model = new LstmModel(modelConfig([6, 4]), new Rng(9));
    const [batch, steps] = [2, 4];
    const x = tf.tensor3d(uniformArray(new Rng(90), batch * steps * INPUT, -1, 1), [
      batch,
      steps,
      INPUT,
    ]);
    const ran = model.run(x).outputs;
    let state = model.initialState(batch);
    tf.unstack(x, 1).forEach((xt, t) => {
      const r = model.step(xt as tf.Tensor2D, state);
      state = r.state;
      const expected = tf.squeeze(tf.slice(ran, [0, t, 0], [batch, 1, OUTPUT]), [1]);
      expectClose(r.output.dataSync(), expected.dataSync(), 1e-5, `output at t=${t}`);
    });
    model.dispose();
  });

  it('trains with a constant tensor count and far fewer kernels than the composed cell', async () => {
    const batch = copyBatch(new Rng(4), 4, 4, 3);
    const kernels: number[] = [];
    for (const implementation of IMPLEMENTATIONS) {
      const model = new LstmModel(modelConfig([8, 8], implementation), new Rng(2));
      const trainer = new Trainer(model);
      trainer.trainStep(batch);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) trainer.trainStep(batch);
      expect(tf.memory().numTensors, implementation).toBe(before);
      const profile = await tf.profile(() => {
        trainer.trainStep(batch);
        return [];
      });
      kernels.push(profile.kernels.length);
      trainer.dispose();
      model.dispose();
    }
    const [fused, composed] = kernels as [number, number];
    expect(fused * 4).toBeLessThan(composed);
  });

  it('leaves nothing behind when run without a gradient tape', async () => {
    const model = new LstmModel(modelConfig([5]), new Rng(6));
    const x = tf.ones([2, 3, INPUT]) as tf.Tensor3D;
    expect(
      await tensorsLeaked(() => {
        tf.tidy(() => {
          model.run(x).outputs.dataSync();
        });
      }),
    ).toBe(0);
    x.dispose();
    model.dispose();
  });
});

describe('LstmController, fused', () => {
  it('matches the composed reference in outputs, state and gradients (params and inputs)', async () => {
    const results = await onCpuAndWasm(() => [
      ...controllerStepsAndGradients('fused'),
      ...controllerStepsAndGradients('composed'),
    ]);
    expectFusedMatchesComposed(results);
  });

  it('is the default and can be switched off', () => {
    const scope = new ParameterStore(new Rng(1)).scope('c');
    expect(new LstmController(scope, 3, [4]).implementation).toBe('fused');
    const composed = new LstmController(scope.scope('x'), 3, [4], { implementation: 'composed' });
    expect(composed.implementation).toBe('composed');
    expect(new LstmModel(modelConfig([4]), new Rng(1)).implementation).toBe('fused');
    expect(new LstmModel(modelConfig([4], 'composed'), new Rng(1)).implementation).toBe('composed');
  });

  it('refuses the former option fused, and an unknown implementation, naming them', () => {
    const scope = new ParameterStore(new Rng(1)).scope('c');
    const renamed = /'fused' \(got false\) was renamed; use implementation: 'fused' \| 'composed'/;
    const legacy = { fused: false } as unknown as LstmOptions;
    expect(() => new LstmController(scope, 3, [4], legacy)).toThrow(MannError);
    expect(() => new LstmController(scope, 3, [4], legacy)).toThrow(renamed);
    const config = { type: 'lstm', inputSize: 2, outputSize: 1, fused: false };
    expect(() => createModel(config as ModelConfig)).toThrow(renamed);
    expect(
      () => new LstmModel({ ...modelConfig([4]), ...config } as LstmModelConfig, new Rng(1)),
    ).toThrow(renamed);
    const fast = { implementation: 'fast' } as unknown as LstmOptions;
    expect(() => new LstmController(scope, 3, [4], fast)).toThrow(
      'implementation must be one of fused, composed, got fast',
    );
    const unknown = { type: 'lstm', inputSize: 2, outputSize: 1, implementation: 'fast' };
    expect(() => createModel(unknown as ModelConfig)).toThrow(
      'implementation must be one of fused, composed, got fast',
    );
  });

  it('a step leaves only its state allocated', async () => {
    const controller = new LstmController(new ParameterStore(new Rng(3)).scope('c'), 3, [4, 2]);
    const state = controller.initialState(5);
    const x = tf.ones([5, 3]) as tf.Tensor2D;
    // h and c of both layers; the output is the top layer's h
    expect(await tensorsLeaked(() => controller.step(x, state))).toBe(4);
  });
});

describe('fused LSTM ops', () => {
  const [B, I, H] = [2, 2, 3];
  /** Small inputs and weights as plain tensors (not variables), fresh for each test. */
  const fixtures = () => {
    const rng = new Rng(41);
    return {
      x: tf.tensor3d(uniformArray(rng, B * 3 * I, -1, 1), [B, 3, I]),
      wx: tf.tensor2d(uniformArray(rng, I * 4 * H, -0.7, 0.7), [I, 4 * H]),
      wh: tf.tensor2d(uniformArray(rng, H * 4 * H, -0.7, 0.7), [H, 4 * H]),
      b: tf.tensor1d(uniformArray(rng, 4 * H, -0.5, 0.5)),
      h0: tf.tensor2d(uniformArray(rng, B * H, -0.8, 0.8), [B, H]),
      c0: tf.tensor2d(uniformArray(rng, B * H, -1, 1), [B, H]),
      readout: tf.tensor3d(uniformArray(rng, B * 3 * H), [B, 3, H]),
      rh: tf.tensor2d(uniformArray(rng, B * H), [B, H]),
      rc: tf.tensor2d(uniformArray(rng, B * H), [B, H]),
    };
  };

  it('lstmLayerSequence passes a finite-difference gradient check w.r.t. all six inputs', () => {
    const { x, wx, wh, b, h0, c0, readout } = fixtures();
    const f = (...t: tf.Tensor[]) => {
      const [xs, a, w, bias, h, c] = t as [
        tf.Tensor3D,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor2D,
        tf.Tensor2D,
      ];
      const layer = { inputKernel: a, recurrentKernel: w, bias };
      return tf.sum(tf.mul(lstmLayerSequence(layer, xs, { h, c }), readout)) as tf.Scalar;
    };
    const check = gradientCheck(f, [x, wx, wh, b, h0, c0]);
    expect(check.ok, JSON.stringify(check.worst)).toBe(true);
    expect(check.checked).toBe(12 + 24 + 36 + 12 + 6 + 6);
  });

  it('lstmCellFused passes a finite-difference gradient check w.r.t. all six inputs', () => {
    const { x, wx, wh, b, h0, c0, rh, rc } = fixtures();
    const x1 = tf.squeeze(tf.slice(x, [0, 0, 0], [B, 1, I]), [1]);
    const f = (...t: tf.Tensor[]) => {
      const [xt, a, w, bias, h, c] = t as [
        tf.Tensor2D,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor2D,
        tf.Tensor2D,
      ];
      const next = lstmCellFused({ inputKernel: a, recurrentKernel: w, bias }, xt, { h, c });
      return tf.add(tf.sum(tf.mul(next.h, rh)), tf.sum(tf.mul(next.c, rc))) as tf.Scalar;
    };
    const check = gradientCheck(f, [x1, wx, wh, b, h0, c0]);
    expect(check.ok, JSON.stringify(check.worst)).toBe(true);
  });

  it('leave only their results allocated, with and without gradients', async () => {
    const { x, wx, wh, b, h0, c0 } = fixtures();
    const layer = { inputKernel: wx, recurrentKernel: wh, bias: b };
    expect(await tensorsLeaked(() => lstmLayerSequence(layer, x, { h: h0, c: c0 }))).toBe(1);
    expect(
      await tensorsLeaked(() =>
        tf.grads((a: tf.Tensor, w: tf.Tensor) =>
          tf.sum(
            lstmLayerSequence({ ...layer, inputKernel: a, recurrentKernel: w }, x, {
              h: h0,
              c: c0,
            }),
          ),
        )([wx, wh]),
      ),
    ).toBe(2);
  });

  it('reject inconsistent shapes, naming the argument', () => {
    const { x, wx, wh, b, h0, c0 } = fixtures();
    const layer = { inputKernel: wx, recurrentKernel: wh, bias: b };
    expect(() => lstmLayerSequence(layer, tf.zeros([B, 3, I + 1]), { h: h0, c: c0 })).toThrow(
      `x must have shape [*, *, ${I}] [B, T, I], got [${B}, 3, ${I + 1}]`,
    );
    expect(() => lstmLayerSequence(layer, x, { h: tf.zeros([B + 1, H]), c: c0 })).toThrow(
      MannError,
    );
    expect(() =>
      lstmCellFused({ ...layer, recurrentKernel: tf.zeros([H, 3 * H]) }, tf.zeros([B, I]), {
        h: h0,
        c: c0,
      }),
    ).toThrow('recurrentKernel must have shape');
    expect(() =>
      lstmLayerSequence(layer, tf.zeros([B, 0, I]) as tf.Tensor3D, { h: h0, c: c0 }),
    ).toThrow('at least one time step');
  });
});
