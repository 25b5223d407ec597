import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkInteger,
  createModel,
  getModelDefinition,
  listMemories,
  listModels,
  LstmModel,
  lstmModelDefinition,
  MannError,
  type MemoryAccess,
  type MemoryDefinition,
  MemoryNetwork,
  type ModelDefinition,
  type ModelConfig,
  ParameterStore,
  registerMemory,
  registerModel,
  restoreCheckpoint,
  loadCheckpoint,
  Rng,
  saveCheckpoint,
  selectBackend,
  Trainer,
  withDefaults,
  createController,
  resolveControllerConfig,
} from '@mann/core';
import { expectBitwiseEqual, expectClose, linearOracle, uniformArray } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

// A memory scheme written for these tests: it reads back its interface vector (times `gain`)
// and counts its steps. Its one learned parameter is the initial read vector.
interface EchoConfig {
  readonly width: number;
  readonly gain: number;
  /** Whether the initial read vector is trained (a non-trainable parameter otherwise). */
  readonly learnInitialRead: boolean;
}
interface EchoState {
  readonly last: tf.Tensor2D;
  readonly steps: tf.Tensor2D;
}
const echoMemory: MemoryDefinition<EchoConfig> = {
  type: 'test-echo',
  description: 'reads back the interface vector',
  resolveConfig(given) {
    const config = withDefaults(
      'test-echo memory',
      { width: 3, gain: 1, learnInitialRead: true },
      given,
    );
    checkInteger('memory.width', config.width, 1);
    return config;
  },
  create(config, scope): MemoryAccess<EchoState> {
    const initialRead = scope.create(
      'initialRead',
      [config.width],
      { kind: 'constant', value: 0.1 },
      { trainable: config.learnInitialRead },
    );
    return {
      interfaceSize: config.width,
      readSize: config.width,
      initialState: (b) => ({
        last: tf.zeros([b, config.width]) as tf.Tensor2D,
        steps: tf.zeros([b, 1]) as tf.Tensor2D,
      }),
      initialReads: (b) => tf.tile(initialRead.expandDims(0), [b, 1]) as tf.Tensor2D,
      step(xi, state, options) {
        const reads = tf.mul(xi, config.gain) as tf.Tensor2D;
        const steps = tf.add(state.steps, 1) as tf.Tensor2D;
        return {
          reads,
          state: { last: xi, steps },
          ...(options?.trace ? { trace: { echo: reads, count: steps } } : {}),
        };
      },
    };
  },
};
registerMemory(echoMemory);

const [I, O, W] = [3, 2, 3];
const memoryConfig = (extra: Record<string, unknown> = {}) => ({
  type: 'memory',
  inputSize: I,
  outputSize: O,
  controller: { kind: 'feedforward' as const, hiddenSizes: [4] },
  memory: { type: 'test-echo', width: W },
  ...extra,
});

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MannError);
    return (error as Error).message;
  }
  throw new Error('expected an error');
};

describe('createModel', () => {
  it('knows the built-in types', () => {
    expect(listModels()).toEqual(expect.arrayContaining(['lstm', 'memory']));
    expect(getModelDefinition('lstm')).toBe(lstmModelDefinition);
    const model = createModel({ type: 'lstm', inputSize: 2, outputSize: 1, hiddenSizes: [3] });
    expect(model).toBeInstanceOf(LstmModel);
  });

  it('an unknown type lists the known ones', () => {
    const message = messageOf(() => createModel({ type: 'gru', inputSize: 2, outputSize: 1 }));
    const match = /^unknown model type 'gru'; known types: (.*)$/.exec(message);
    expect(match, message).not.toBeNull();
    expect(match![1]!.split(', ')).toEqual(expect.arrayContaining(['lstm', 'memory']));
  });

  it('an unknown config key lists the valid ones', () => {
    expect(
      messageOf(() =>
        createModel({ type: 'lstm', inputSize: 2, outputSize: 1, hidden: [3] } as ModelConfig),
      ),
    ).toBe(
      "unknown lstm config option 'hidden'; valid options: type, inputSize, outputSize, hiddenSizes, implementation",
    );
  });

  it('bad sizes name the field and the value', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ hiddenSizes: [8, -4] }, 'hiddenSizes[1] must be an integer >= 1, got -4'],
      [{ hiddenSizes: [0] }, 'hiddenSizes[0] must be an integer >= 1, got 0'],
      [{ hiddenSizes: [] }, 'hiddenSizes must be a non-empty list of positive integers, got []'],
      [{ hiddenSizes: 16 }, 'hiddenSizes must be a non-empty list of positive integers, got 16'],
      [{ inputSize: 0 }, 'inputSize must be an integer >= 1, got 0'],
      [{ inputSize: -3 }, 'inputSize must be an integer >= 1, got -3'],
      [{ inputSize: 2.5 }, 'inputSize must be an integer >= 1, got 2.5'],
      [{ outputSize: 'four' }, 'outputSize must be an integer >= 1, got four'],
    ];
    for (const [change, message] of cases) {
      const config = { type: 'lstm', inputSize: 2, outputSize: 1, hiddenSizes: [3], ...change };
      expect(messageOf(() => createModel(config as ModelConfig))).toBe(message);
    }
    expect(messageOf(() => createModel(null as unknown as ModelConfig))).toBe(
      "model config must be an object with a string 'type', got null",
    );
  });

  it('fills the documented defaults (NTM paper copy baseline: 3 x 256)', () => {
    const model = createModel({ type: 'lstm', inputSize: 2, outputSize: 1 });
    expect(model.config).toEqual({
      type: 'lstm',
      inputSize: 2,
      outputSize: 1,
      hiddenSizes: [256, 256, 256],
      implementation: 'fused',
    });
    model.dispose();
  });

  it('draws the initialisation from the seed, or from the rng given', () => {
    const config = { type: 'lstm', inputSize: 2, outputSize: 1, hiddenSizes: [3] };
    const values = (options: { seed?: number; rng?: Rng }) =>
      Object.values(createModel(config, options).parameters.snapshot()).flatMap((p) =>
        Array.from(p.values),
      );
    expect(values({ seed: 3 })).toEqual(values({ seed: 3 }));
    expect(values({ seed: 3 })).not.toEqual(values({ seed: 4 }));
    expect(values({ rng: new Rng(3), seed: 99 })).toEqual(values({ seed: 3 }));
    expect(values({})).toEqual(values({ seed: 0 }));
  });
});

describe('registerModel / registerMemory', () => {
  const tiny: ModelDefinition = {
    type: 'test-tiny',
    description: 'a one-unit LSTM',
    resolveConfig: (c) =>
      lstmModelDefinition.resolveConfig({ ...c, type: 'lstm', hiddenSizes: [1] }),
    create: (c, rng) => lstmModelDefinition.create(c as never, rng),
  };

  it('registers a new type, accepts the same definition again, and replaces only on request', () => {
    registerModel(tiny);
    registerModel(tiny);
    expect(listModels()).toContain('test-tiny');
    const model = createModel({ type: 'test-tiny', inputSize: 2, outputSize: 1 });
    expect(model.parameters.get('lstm0/recurrentKernel').shape).toEqual([1, 4]);
    const other = { ...tiny };
    expect(messageOf(() => registerModel(other))).toBe(
      "model type 'test-tiny' is already registered",
    );
    registerModel(other, true);
    expect(getModelDefinition('test-tiny')).toBe(other);
    expect(messageOf(() => registerModel({ ...lstmModelDefinition }))).toBe(
      "model type 'lstm' is already registered",
    );
  });

  it('rejects names that are not lowercase letters, digits and dashes', () => {
    expect(messageOf(() => registerModel({ ...tiny, type: 'My Model' }))).toBe(
      "model type must be lowercase letters, digits and dashes, got 'My Model'",
    );
    expect(messageOf(() => registerMemory({ ...echoMemory, type: '1st' }))).toBe(
      "memory type must be lowercase letters, digits and dashes, got '1st'",
    );
    expect(messageOf(() => registerMemory({ ...echoMemory }))).toBe(
      "memory type 'test-echo' is already registered",
    );
    expect(listMemories()).toContain('test-echo');
  });
});

describe('the generic memory network (type: memory)', () => {
  it('resolves its config: defaults for controller and clip, the scheme fills its own', () => {
    const model = createModel(memoryConfig({ controller: undefined }));
    expect(model).toBeInstanceOf(MemoryNetwork);
    expect(model.config).toEqual({
      type: 'memory',
      inputSize: I,
      outputSize: O,
      controller: { kind: 'lstm', hiddenSizes: [100], activation: 'tanh', init: 'glorot' },
      memory: { type: 'test-echo', width: W, gain: 1, learnInitialRead: true },
      clipValue: 20,
    });
    model.dispose();
  });

  it('names its parameters memory/, controller/, interface/ and output/', () => {
    const model = createModel(memoryConfig());
    expect(model.parameters.names()).toEqual([
      'memory/initialRead',
      'controller/dense0/kernel',
      'controller/dense0/bias',
      'interface/kernel',
      'interface/bias',
      'output/kernel',
      'output/bias',
    ]);
    expect(model.parameters.get('controller/dense0/kernel').shape).toEqual([I + W, 4]);
    expect(model.parameters.get('output/kernel').shape).toEqual([4 + W, O]);
  });

  it('wires controller, clip, interface, memory and output as the papers do (loop oracle)', () => {
    const model = createModel(
      memoryConfig({ clipValue: 0.5, memory: { type: 'test-echo', width: W, gain: 2 } }),
    );
    const rng = new Rng(1);
    for (const [name, v] of model.parameters.entries()) {
      if (name.endsWith('bias')) v.assign(tf.tensor(uniformArray(rng, v.size, -1, 1)));
    }
    const p = (name: string) => model.parameters.get(name).dataSync();
    const B = 2;
    let reads: number[] = new Array(B * W).fill(0.1);
    let state = model.initialState(B);
    for (let t = 0; t < 3; t++) {
      const x = uniformArray(rng, B * I, -2, 2);
      const input: number[] = [];
      for (let b = 0; b < B; b++) {
        input.push(...x.slice(b * I, b * I + I), ...reads.slice(b * W, b * W + W));
      }
      const h = linearOracle(
        input,
        B,
        p('controller/dense0/kernel'),
        p('controller/dense0/bias'),
        I + W,
        4,
      )
        .map(Math.tanh)
        .map((v) => Math.max(-0.5, Math.min(0.5, v)));
      const xi = linearOracle(h, B, p('interface/kernel'), p('interface/bias'), 4, W);
      reads = xi.map((v) => 2 * v);
      const joined: number[] = [];
      for (let b = 0; b < B; b++) {
        joined.push(...h.slice(b * 4, b * 4 + 4), ...reads.slice(b * W, b * W + W));
      }
      const y = linearOracle(joined, B, p('output/kernel'), p('output/bias'), 4 + W, O);
      const result = model.step(tf.tensor2d(x, [B, I]), state);
      expectClose(result.output.dataSync(), y, 1e-5, `output at t=${t}`);
      state = result.state;
      expectClose((state as { reads: tf.Tensor }).reads.dataSync(), reads, 1e-5, `reads at t=${t}`);
    }
  });

  it('run equals stepping by hand, and stacks traces to [B, T, ...]', () => {
    const model = createModel(memoryConfig({ controller: { hiddenSizes: [5] } }), { seed: 2 });
    const [B, T] = [2, 4];
    const inputs = tf.tensor3d(uniformArray(new Rng(2), B * T * I), [B, T, I]);
    const run = model.run(inputs, { trace: true });
    expect(run.outputs.shape).toEqual([B, T, O]);
    expect(Object.keys(run.traces!).sort()).toEqual(['count', 'echo']);
    expect(run.traces!.echo!.shape).toEqual([B, T, W]);
    expect(run.traces!.count!.shape).toEqual([B, T, 1]);
    let state = model.initialState(B);
    const outputs: tf.Tensor[] = [];
    const echoes: tf.Tensor[] = [];
    tf.unstack(inputs, 1).forEach((x) => {
      const step = model.step(x as tf.Tensor2D, state, { trace: true });
      outputs.push(step.output);
      echoes.push(step.trace!.echo!);
      state = step.state;
    });
    expectBitwiseEqual(run.outputs.dataSync(), tf.stack(outputs, 1).dataSync());
    expectBitwiseEqual(run.traces!.echo!.dataSync(), tf.stack(echoes, 1).dataSync());
    expect(Array.from(run.traces!.count!.dataSync())).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(model.run(inputs).traces).toBeUndefined();
    // starting from a given state continues the sequence
    const second = model.run(inputs, { initialState: state });
    const firstStep = model.step(tf.unstack(inputs, 1)[0] as tf.Tensor2D, state);
    expectBitwiseEqual(
      second.outputs.slice([0, 0, 0], [B, 1, O]).dataSync(),
      firstStep.output.dataSync(),
    );
  });

  it('trains: gradients reach the memory parameters, and no tensors leak', () => {
    const model = createModel(memoryConfig(), { seed: 3 });
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 0.01 } });
    const rng = new Rng(3);
    const batch = () => ({
      batchSize: 2,
      steps: 3,
      inputWidth: I,
      outputWidth: O,
      inputs: uniformArray(rng, 18),
      targets: rng.fill(12, (r) => r.bernoulli()),
      mask: new Float32Array([1, 1, 1, 0, 1, 1]),
    });
    const initialRead = Array.from(model.parameters.get('memory/initialRead').dataSync());
    trainer.trainStep(batch());
    expect(Array.from(model.parameters.get('memory/initialRead').dataSync())).not.toEqual(
      initialRead,
    );
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) trainer.trainStep(batch());
    trainer.evaluate(batch());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('does not train a non-trainable memory parameter, and the checkpoint keeps it', async () => {
    const model = createModel(
      memoryConfig({ memory: { type: 'test-echo', learnInitialRead: false } }),
      { seed: 5 },
    );
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 0.01 } });
    const rng = new Rng(5);
    const kernel = Array.from(model.parameters.get('interface/kernel').dataSync());
    trainer.trainStep({
      batchSize: 2,
      steps: 3,
      inputWidth: I,
      outputWidth: O,
      inputs: uniformArray(rng, 18),
      targets: rng.fill(12, (r) => r.bernoulli()),
      mask: new Float32Array(6).fill(1),
    });
    expect(Array.from(model.parameters.get('memory/initialRead').dataSync())).toEqual(
      new Array(W).fill(Math.fround(0.1)),
    );
    expect(Array.from(model.parameters.get('interface/kernel').dataSync())).not.toEqual(kernel);
    expect(Object.keys(trainer.optimizer.getState().slots)).not.toContain('memory/initialRead');
    const directory = await mkdtemp(join(tmpdir(), 'mann-registry-test-'));
    try {
      const path = join(directory, 'fixed.ckpt');
      await saveCheckpoint(path, { model, trainer });
      const checkpoint = await loadCheckpoint(path);
      expect(Object.keys(checkpoint.parameters)).toContain('memory/initialRead');
      const restored = restoreCheckpoint(checkpoint).model;
      expect(restored.parameters.get('memory/initialRead').trainable).toBe(false);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('survives a checkpoint round trip (its resolved config builds the same model)', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'mann-registry-test-'));
    try {
      const model = createModel(memoryConfig({ memory: { type: 'test-echo', gain: 3 } }), {
        seed: 4,
      });
      const path = join(directory, 'memory.ckpt');
      await saveCheckpoint(path, { model });
      const restored = restoreCheckpoint(await loadCheckpoint(path)).model;
      expect(restored.config).toEqual(model.config);
      const inputs = tf.tensor3d(uniformArray(new Rng(4), 2 * 3 * I), [2, 3, I]);
      expectBitwiseEqual(
        restored.run(inputs).outputs.dataSync(),
        model.run(inputs).outputs.dataSync(),
      );
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('bad memory or network config names the field and lists what is valid', () => {
    const cases: [Record<string, unknown>, string | RegExp][] = [
      [
        { memory: { type: 'stack' } },
        /^unknown memory type 'stack'; known types: (.*, )?test-echo(, .*)?$/,
      ],
      [
        { memory: undefined },
        'memory network config.memory must be { type: <memory scheme>, ... }, got undefined',
      ],
      [
        { memory: { width: 3 } },
        'memory network config.memory must be { type: <memory scheme>, ... }, got {"width":3}',
      ],
      [
        { memory: { type: 'test-echo', depth: 2 } },
        "unknown test-echo memory option 'depth'; valid options: width, gain, learnInitialRead",
      ],
      [{ memory: { type: 'test-echo', width: 0 } }, 'memory.width must be an integer >= 1, got 0'],
      [
        { heads: 2 },
        "unknown memory network config option 'heads'; valid options: type, inputSize, outputSize, controller, memory, clipValue",
      ],
      [{ clipValue: -1 }, 'clipValue must be a finite number in [0, Infinity], got -1'],
      [
        { controller: { hiddenSizes: [-1] } },
        'controller.hiddenSizes[0] must be an integer >= 1, got -1',
      ],
    ];
    for (const [change, message] of cases) {
      const text = messageOf(() => createModel(memoryConfig(change) as ModelConfig));
      if (typeof message === 'string') expect(text).toBe(message);
      else expect(text).toMatch(message);
    }
  });

  it('checks that the controller takes [x ; r]', () => {
    const parameters = new ParameterStore(new Rng(0));
    const memory = echoMemory.create(
      { width: W, gain: 1, learnInitialRead: true },
      parameters.scope('memory'),
    );
    const controller = createController(
      parameters.scope('controller'),
      I + W - 1,
      resolveControllerConfig({ kind: 'feedforward', hiddenSizes: [4] }),
    );
    const config = { type: 'memory', inputSize: I, outputSize: O };
    expect(
      messageOf(() => new MemoryNetwork({ config, parameters, controller, memory, clipValue: 0 })),
    ).toBe('controller.inputSize must be inputSize + readSize = 6, got 5');
  });
});

describe('withDefaults', () => {
  it('merges over the defaults, skipping undefined values, and rejects unknown keys', () => {
    const defaults = { a: 1, b: 'x', c: [1] };
    expect(withDefaults('thing', defaults, { b: 'y', a: undefined })).toEqual({
      a: 1,
      b: 'y',
      c: [1],
    });
    expect(withDefaults('thing', defaults, undefined)).toEqual(defaults);
    expect(
      messageOf(() => withDefaults('thing', defaults, { d: 2 } as Partial<typeof defaults>)),
    ).toBe("unknown thing option 'd'; valid options: a, b, c");
    expect(defaults).toEqual({ a: 1, b: 'x', c: [1] });
  });
});
