import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createController,
  createLinear,
  DEFAULT_CONTROLLER,
  FeedforwardController,
  lstmCell,
  type LstmLayer,
  LstmController,
  type LstmState,
  MannError,
  ParameterStore,
  resolveControllerConfig,
  Rng,
  selectBackend,
} from '@mann/core';
import { gradientCheck, maxAbsDifference, onCpuAndWasm, tensorsLeaked } from '@mann/core/testing';
import {
  expectClose,
  linearOracle,
  lstmStepOracle,
  lstmWeights,
  sigmoid,
  uniformArray,
} from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const scopeOf = (seed: number) => new ParameterStore(new Rng(seed)).scope('controller');

describe('LstmController', () => {
  it('creates lstm{k}/{inputKernel,recurrentKernel,bias} with forget-gate bias 1', () => {
    const scope = scopeOf(1);
    const controller = new LstmController(scope, 3, [4, 2]);
    expect(controller.outputSize).toBe(2);
    expect(controller.inputSize).toBe(3);
    const [first, second] = controller.layers as [LstmLayer, LstmLayer];
    expect(first.inputKernel.shape).toEqual([3, 16]);
    expect(first.recurrentKernel.shape).toEqual([4, 16]);
    expect(second.inputKernel.shape).toEqual([4, 8]);
    expect(second.recurrentKernel.shape).toEqual([2, 8]);
    // gates [input, forget, cell, output]: only the forget block starts at 1
    expect(Array.from(first.bias.dataSync())).toEqual([
      ...[0, 0, 0, 0],
      ...[1, 1, 1, 1],
      ...[0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    expect(Array.from(second.bias.dataSync())).toEqual([0, 0, 1, 1, 0, 0, 0, 0]);
  });

  it("init 'wide-uniform': kernels uniform in +-5/sqrt(in + H), every bias 0", () => {
    // the NTM paper's copy controller: 9 inputs + a read of 20, 100 units
    const [wide] = new LstmController(scopeOf(4), 29, [100], { init: 'wide-uniform' }).layers as [
      LstmLayer,
    ];
    const [glorot] = new LstmController(scopeOf(4), 29, [100]).layers as [LstmLayer];
    const limit = 5 / Math.sqrt(129);
    for (const kernel of [wide.inputKernel, wide.recurrentKernel]) {
      const values = Array.from(kernel.dataSync());
      const max = Math.max(...values.map(Math.abs));
      expect(max).toBeLessThanOrEqual(limit);
      expect(max).toBeGreaterThan(0.99 * limit);
      // U(-l, l) has mean 0 and standard deviation l / sqrt(3)
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      expect(Math.abs(mean)).toBeLessThan(0.02);
      expect(sd / (limit / Math.sqrt(3))).toBeCloseTo(1, 1);
    }
    expect(Array.from(wide.bias.dataSync()).every((b) => b === 0)).toBe(true);
    // against Glorot over [29, 400]: limit sqrt(6 / 429), about a quarter as wide
    const glorotMax = Math.max(...Array.from(glorot.inputKernel.dataSync()).map(Math.abs));
    expect(glorotMax).toBeLessThanOrEqual(Math.sqrt(6 / 429));
    expect(limit / Math.sqrt(6 / 429)).toBeGreaterThan(3.7);
  });

  it('steps exactly like a loop over the LSTM equations (two layers, three steps)', () => {
    const controller = new LstmController(scopeOf(2), 3, [4, 2]);
    // non-zero biases so that every gate's bias is exercised
    const rng = new Rng(20);
    for (const layer of controller.layers) {
      layer.bias.assign(tf.tensor1d(uniformArray(rng, layer.bias.size, -0.5, 0.5)));
    }
    const weights = controller.layers.map(lstmWeights);
    const batch = 2;
    let state: LstmState = controller.initialState(batch);
    let oracle = weights.map((w) => ({
      h: new Array<number>(batch * w.hidden).fill(0),
      c: new Array<number>(batch * w.hidden).fill(0),
    }));
    for (let t = 0; t < 3; t++) {
      const x = uniformArray(rng, batch * 3, -2, 2);
      const result = controller.step(tf.tensor2d(x, [batch, 3]), state);
      state = result.state;
      let input: ArrayLike<number> = x;
      oracle = weights.map((w, k) => {
        const next = lstmStepOracle(w, batch, input, oracle[k]!.h, oracle[k]!.c);
        input = next.h;
        return next;
      });
      expect(result.output.shape).toEqual([batch, 2]);
      expectClose(result.output.dataSync(), oracle[1]!.h, 1e-5, `output at t=${t}`);
      state.layers.forEach((s, k) => {
        expectClose(s.h.dataSync(), oracle[k]!.h, 1e-5, `h${k} at t=${t}`);
        expectClose(s.c.dataSync(), oracle[k]!.c, 1e-5, `c${k} at t=${t}`);
      });
    }
  });

  it('starts from zeros and leaves only its outputs allocated', async () => {
    const controller = new LstmController(scopeOf(3), 3, [4]);
    const state = controller.initialState(5);
    expect(state.layers[0]!.h.shape).toEqual([5, 4]);
    expect(Array.from(state.layers[0]!.c.dataSync())).toEqual(new Array(20).fill(0));
    const x = tf.ones([5, 3]) as tf.Tensor2D;
    // output is the top layer's h: 2 new tensors (h and c) and nothing else
    let result: ReturnType<LstmController['step']> | undefined;
    expect(await tensorsLeaked(() => (result = controller.step(x, state)))).toBe(2);
    expect(result!.output).toBe(result!.state.layers[0]!.h);
    expect(state.layers[0]!.h.isDisposed).toBe(false);
  });

  it('passes a finite-difference gradient check through two steps and both layers', () => {
    const controller = new LstmController(scopeOf(4), 3, [4, 3]);
    const rng = new Rng(40);
    const x0 = tf.tensor2d(uniformArray(rng, 6, -1, 1), [2, 3]);
    const x1 = tf.tensor2d(uniformArray(rng, 6, -1, 1), [2, 3]);
    const readout = tf.tensor2d(uniformArray(rng, 6, -1, 1), [2, 3]);
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const first = controller.step(a as tf.Tensor2D, controller.initialState(2));
      const second = controller.step(b as tf.Tensor2D, first.state);
      return tf.sum(tf.mul(second.output, readout)) as tf.Scalar;
    };
    const check = gradientCheck((a, b) => f(a!, b!), [x0, x1]);
    expect(check.ok, JSON.stringify(check.worst)).toBe(true);
    expect(check.checked).toBe(12);
  });

  it('lstmCell passes a gradient check w.r.t. projections, state and recurrent kernel', () => {
    const rng = new Rng(41);
    const H = 3;
    const xw = tf.tensor2d(uniformArray(rng, 2 * 4 * H, -1, 1), [2, 4 * H]);
    const h = tf.tensor2d(uniformArray(rng, 2 * H, -1, 1), [2, H]);
    const c = tf.tensor2d(uniformArray(rng, 2 * H, -1, 1), [2, H]);
    const wh = tf.tensor2d(uniformArray(rng, H * 4 * H, -0.5, 0.5), [H, 4 * H]);
    const [rh, rc] = [uniformArray(rng, 2 * H), uniformArray(rng, 2 * H)];
    const f = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, w: tf.Tensor) => {
      const layer = { inputSize: 1, hiddenSize: H, recurrentKernel: w } as unknown as LstmLayer;
      const next = lstmCell(layer, a as tf.Tensor2D, { h: b as tf.Tensor2D, c: d as tf.Tensor2D });
      return tf.add(
        tf.sum(tf.mul(next.h, tf.tensor2d(rh, [2, H]))),
        tf.sum(tf.mul(next.c, tf.tensor2d(rc, [2, H]))),
      ) as tf.Scalar;
    };
    const check = gradientCheck((a, b, d, w) => f(a!, b!, d!, w!), [xw, h, c, wh]);
    expect(check.ok, JSON.stringify(check.worst)).toBe(true);
  });

  it('gives the same outputs on cpu and wasm', async () => {
    const rng = new Rng(42);
    const inputs = [uniformArray(rng, 6, -2, 2), uniformArray(rng, 6, -2, 2)];
    const { cpu, wasm } = await onCpuAndWasm(() => {
      const controller = new LstmController(scopeOf(5), 3, [8, 4]);
      let state = controller.initialState(2);
      const outputs: tf.Tensor[] = [];
      for (const x of inputs) {
        const r = controller.step(tf.tensor2d(x, [2, 3]), state);
        state = r.state;
        outputs.push(r.output);
      }
      return outputs;
    });
    cpu.forEach((reference, i) => {
      expect(maxAbsDifference(reference, wasm[i]!)).toBeLessThan(1e-5);
    });
  });

  it('rejects a bad input size, naming it', () => {
    expect(() => new LstmController(scopeOf(6), 0, [4])).toThrow(MannError);
    expect(() => new LstmController(scopeOf(6), 0, [4])).toThrow(
      'inputSize must be an integer >= 1, got 0',
    );
    expect(() => new LstmController(scopeOf(6), 3, [4, -1])).toThrow(
      'hiddenSize must be an integer >= 1, got -1',
    );
    expect(() => new LstmController(scopeOf(6), 3, [])).toThrow('hiddenSizes');
  });
});

describe('FeedforwardController', () => {
  const activations = {
    tanh: Math.tanh,
    relu: (v: number) => Math.max(0, v),
    sigmoid,
  } as const;

  for (const [name, fn] of Object.entries(activations)) {
    it(`applies dense layers and ${name} like a loop`, () => {
      const controller = new FeedforwardController(
        scopeOf(7),
        3,
        [5, 4],
        name as keyof typeof activations,
      );
      const rng = new Rng(70);
      for (const layer of controller.layers) {
        layer.bias.assign(tf.tensor1d(uniformArray(rng, layer.bias.size)));
      }
      const x = uniformArray(rng, 2 * 3, -2, 2);
      const state = controller.initialState();
      const result = controller.step(tf.tensor2d(x, [2, 3]), state);
      expect(result.state).toBe(state);
      expect(result.output.shape).toEqual([2, 4]);
      let expected: number[] = Array.from(x);
      for (const layer of controller.layers) {
        expected = linearOracle(
          expected,
          2,
          layer.kernel.dataSync(),
          layer.bias.dataSync(),
          layer.inputSize,
          layer.outputSize,
        ).map(fn);
      }
      expectClose(result.output.dataSync(), expected, 1e-5);
    });
  }

  it('names its parameters dense{k}/{kernel,bias} and checks the activation', () => {
    const store = new ParameterStore(new Rng(8));
    const controller = new FeedforwardController(store.scope('controller'), 3, [5, 4]);
    expect(controller.activation).toBe('tanh');
    expect(controller.outputSize).toBe(4);
    expect(store.names()).toEqual([
      'controller/dense0/kernel',
      'controller/dense0/bias',
      'controller/dense1/kernel',
      'controller/dense1/bias',
    ]);
    expect(() => new FeedforwardController(store.scope('x'), 3, [5], 'gelu' as 'tanh')).toThrow(
      'activation must be one of tanh, relu, sigmoid, got gelu',
    );
  });
});

describe('createLinear', () => {
  it('computes x W + b on rank 2 and rank 3 inputs, with Glorot kernel and zero bias', () => {
    const store = new ParameterStore(new Rng(9));
    const linear = createLinear(store.scope('out'), 4, 3);
    expect(store.names()).toEqual(['out/kernel', 'out/bias']);
    expect(Array.from(linear.bias.dataSync())).toEqual([0, 0, 0]);
    const limit = Math.sqrt(6 / 7);
    for (const w of linear.kernel.dataSync()) expect(Math.abs(w)).toBeLessThanOrEqual(limit);
    linear.bias.assign(tf.tensor1d([0.5, -1, 2]));
    const rng = new Rng(90);
    const x = uniformArray(rng, 2 * 5 * 4, -1, 1);
    const expected = linearOracle(x, 10, linear.kernel.dataSync(), [0.5, -1, 2], 4, 3);
    const y3 = linear.apply(tf.tensor3d(x, [2, 5, 4]));
    expect(y3.shape).toEqual([2, 5, 3]);
    expectClose(y3.dataSync(), expected, 1e-5);
    expectClose(linear.apply(tf.tensor2d(x, [10, 4])).dataSync(), expected, 1e-5);
    const biased = createLinear(store.scope('gate'), 2, 2, 1);
    expect(Array.from(biased.bias.dataSync())).toEqual([1, 1]);
  });
});

describe('controller config', () => {
  it('fills defaults: an LSTM of 100 units', () => {
    expect(resolveControllerConfig(undefined)).toEqual(DEFAULT_CONTROLLER);
    expect(DEFAULT_CONTROLLER).toEqual({
      kind: 'lstm',
      hiddenSizes: [100],
      activation: 'tanh',
      init: 'glorot',
    });
    expect(resolveControllerConfig({ kind: 'feedforward', hiddenSizes: [8] })).toEqual({
      kind: 'feedforward',
      hiddenSizes: [8],
      activation: 'tanh',
      init: 'glorot',
    });
  });

  it('rejects an unknown LSTM initialisation, naming it', () => {
    expect(() => resolveControllerConfig({ init: 'orthogonal' as never })).toThrow(
      /controller\.init must be one of glorot, wide-uniform, got orthogonal/,
    );
  });

  it('builds the controller its config names', () => {
    const lstm = createController(scopeOf(10), 6, resolveControllerConfig({ hiddenSizes: [7, 5] }));
    expect(lstm).toBeInstanceOf(LstmController);
    expect([lstm.inputSize, lstm.outputSize]).toEqual([6, 5]);
    const ff = createController(
      scopeOf(11),
      6,
      resolveControllerConfig({ kind: 'feedforward', hiddenSizes: [9], activation: 'relu' }),
    );
    expect(ff).toBeInstanceOf(FeedforwardController);
    expect((ff as FeedforwardController).activation).toBe('relu');
    expect(ff.outputSize).toBe(9);
  });

  it('rejects bad values and unknown keys, naming the field, the value and what is valid', () => {
    const cases: [object, string][] = [
      [
        { size: 3 },
        "unknown controller option 'size'; valid options: kind, hiddenSizes, activation",
      ],
      [{ kind: 'gru' }, 'controller.kind must be one of lstm, feedforward, got gru'],
      [
        { activation: 'gelu' },
        'controller.activation must be one of tanh, relu, sigmoid, got gelu',
      ],
      [
        { hiddenSizes: [] },
        'controller.hiddenSizes must be a non-empty list of positive integers, got []',
      ],
      [
        { hiddenSizes: 64 },
        'controller.hiddenSizes must be a non-empty list of positive integers, got 64',
      ],
      [{ hiddenSizes: [8, -2] }, 'controller.hiddenSizes[1] must be an integer >= 1, got -2'],
      [{ hiddenSizes: [0] }, 'controller.hiddenSizes[0] must be an integer >= 1, got 0'],
      [{ hiddenSizes: [2.5] }, 'controller.hiddenSizes[0] must be an integer >= 1, got 2.5'],
    ];
    for (const [config, message] of cases) {
      expect(() => resolveControllerConfig(config)).toThrow(MannError);
      expect(() => resolveControllerConfig(config)).toThrow(message);
    }
  });
});
