import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel, layersModelFiles, Rng, selectBackend } from '@mann/core';
import type { BackendName, RecurrentModel, MannLayer } from '@mann/core';
import { copyBatch, maxAbsDifference, withBackend } from '@mann/core/testing';
import { ntmLayer, NtmLayer } from '@mann/ntm';
import type { NtmLayerArgs } from '@mann/ntm';

// ntmLayer against the model it wraps (values and gradients, fused and composed, cpu and wasm),
// model.fit, save and load, masking, stateful runs, returnState/initialState, every config
// option through serialisation, and errors naming the field.

const BACKENDS: readonly BackendName[] = ['cpu', 'wasm'];
const TOLERANCE = 1e-5;
let dir = '';

beforeAll(async () => {
  await selectBackend();
  dir = await mkdtemp(join(tmpdir(), 'mann-ntm-layer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FEATURES = 3;
const tiny: NtmLayerArgs = {
  units: 2,
  controller: { kind: 'lstm', hiddenSizes: [6] },
  memorySlots: 5,
  memoryWidth: 3,
  seed: 7,
};

function input(batch: number, steps: number, seed = 1): tf.Tensor3D {
  const rng = new Rng(seed);
  const values = Float32Array.from({ length: batch * steps * FEATURES }, () =>
    rng.uniformIn(-1, 1),
  );
  return tf.tensor3d(values, [batch, steps, FEATURES]);
}

function modelFor(layer: MannLayer): RecurrentModel {
  return createModel(layer.modelConfig(FEATURES), { seed: layer.seed });
}

/** Weighted sum of outputs (fixed weights), a loss whose gradient reaches every output. */
function weighted(outputs: tf.Tensor): tf.Scalar {
  const weights = tf.linspace(-1, 1, outputs.size).reshape(outputs.shape);
  return tf.sum(tf.mul(outputs, weights));
}

function values(t: tf.Tensor): Float32Array {
  return t.dataSync().slice() as Float32Array;
}

/** Gradients of weighted(outputs) w.r.t. the layer's weights, by parameter name. */
function layerGradients(layer: MannLayer, x: tf.Tensor3D): Record<string, Float32Array> {
  return tf.tidy(() => {
    const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => weighted(layer.apply(x) as tf.Tensor), variables);
    const out: Record<string, Float32Array> = {};
    for (const w of layer.trainableWeights) {
      out[w.originalName.slice(layer.name.length + 1)] = values(grads[w.name] as tf.Tensor);
    }
    return out;
  });
}

function modelGradients(model: RecurrentModel, x: tf.Tensor3D): Record<string, Float32Array> {
  return tf.tidy(() => {
    const entries = model.parameters.trainableEntries();
    const { grads } = tf.variableGrads(
      () => weighted(model.run(x).outputs),
      entries.map(([, v]) => v),
    );
    return Object.fromEntries(
      entries.map(([name, v]) => [name, values(grads[v.name] as tf.Tensor)]),
    );
  });
}

function expectAllClose(
  a: Record<string, Float32Array>,
  b: Record<string, Float32Array>,
  tolerance = TOLERANCE,
): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const [name, expected] of Object.entries(b)) {
    const scale = Math.max(1, ...Array.from(expected, Math.abs));
    expect(maxAbsDifference(a[name] as Float32Array, expected), name).toBeLessThanOrEqual(
      tolerance * scale,
    );
  }
}

describe('ntmLayer: parity with the model it wraps', () => {
  for (const backend of BACKENDS) {
    for (const implementation of ['fused', 'composed'] as const) {
      it(`same weights, outputs and gradients as createModel (${implementation}, ${backend})`, async () => {
        await withBackend(backend, () => {
          const x = input(2, 4);
          const layer = ntmLayer({ ...tiny, implementation, returnSequences: true });
          const outputs = layer.apply(x) as tf.Tensor;
          const model = modelFor(layer);
          // the layer's weights are the model's parameters, drawn the same way
          const snapshot = model.parameters.snapshot();
          for (const w of layer.weights) {
            const name = w.originalName.slice(layer.name.length + 1);
            expect(values(w.read())).toEqual(snapshot[name]?.values);
          }
          const reference = model.run(x).outputs;
          expect(outputs.shape).toEqual([2, 4, 2]);
          expect(maxAbsDifference(values(outputs), values(reference))).toBeLessThanOrEqual(
            TOLERANCE,
          );
          expectAllClose(layerGradients(layer, x), modelGradients(model, x));
          tf.dispose([x, outputs, reference]);
          model.dispose();
          layer.dispose();
        });
      });
    }
  }

  it('returns the last step without returnSequences, and the step path agrees with run', () => {
    const x = input(2, 4);
    const last = ntmLayer({ ...tiny });
    const stepped = ntmLayer({ ...tiny, returnState: true, returnSequences: true });
    const [sequence] = stepped.apply(x) as tf.Tensor[];
    const y = last.apply(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 2]);
    const full = modelFor(last).run(x).outputs;
    expect(
      maxAbsDifference(values(y), values(full.slice([0, 3, 0], [2, 1, 2]))),
    ).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDifference(values(sequence as tf.Tensor), values(full))).toBeLessThanOrEqual(
      TOLERANCE,
    );
  });

  it('runs the whole-sequence op: as few kernels as model.run, far fewer than stepping', async () => {
    const x = input(2, 6);
    const layer = ntmLayer({ ...tiny, returnSequences: true });
    const stepping = ntmLayer({ ...tiny, returnSequences: true, returnState: true });
    tf.dispose([layer.apply(x), stepping.apply(x)] as tf.Tensor[]);
    const model = modelFor(layer);
    const kernels = async (f: () => tf.Tensor | tf.Tensor[]) =>
      (await tf.profile(() => f())).kernels.length;
    const viaLayer = await kernels(() => layer.apply(x) as tf.Tensor);
    const viaRun = await kernels(() => model.run(x).outputs);
    const viaSteps = await kernels(() => stepping.apply(x) as tf.Tensor[]);
    // the layer adds at most a few reshapes or slices to model.run
    expect(viaLayer).toBeLessThanOrEqual(viaRun + 4);
    expect(viaSteps).toBeGreaterThan(2 * viaLayer);
    model.dispose();
  });

  it('leaks no tensors across calls', () => {
    const x = input(2, 4);
    const layer = ntmLayer({ ...tiny, returnSequences: true });
    tf.dispose(layer.apply(x) as tf.Tensor);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(layer.apply(x) as tf.Tensor);
    tf.dispose(layerGradients(layer, x) as never);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('ntmLayer in a tf.sequential', () => {
  it('model.fit reduces the loss on copy batches, and save then loadLayersModel gives identical outputs', async () => {
    const batch = copyBatch(new Rng(3), 8, 4, 1, 3);
    const x = tf.tensor3d(batch.inputs, [batch.batchSize, batch.steps, batch.inputWidth]);
    const y = tf.tensor3d(batch.targets, [batch.batchSize, batch.steps, batch.outputWidth]);
    const model = tf.sequential({
      layers: [
        ntmLayer({
          ...tiny,
          units: 8,
          returnSequences: true,
          inputShape: [null, batch.inputWidth],
        }),
        tf.layers.dense({ units: batch.outputWidth, activation: 'sigmoid' }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(1e-2), loss: 'binaryCrossentropy' });
    const history = await model.fit(x, y, { epochs: 8, batchSize: 4, verbose: 0, shuffle: false });
    const losses = history.history.loss as number[];
    expect(losses.at(-1)).toBeLessThan((losses[0] as number) * 0.9);

    const path = join(dir, 'fitted');
    await model.save(layersModelFiles(path));
    expect((await readdir(path)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await tf.loadLayersModel(layersModelFiles(path));
    expect(loaded.layers[0]).toBeInstanceOf(NtmLayer);
    const before = model.predict(x) as tf.Tensor;
    const after = loaded.predict(x) as tf.Tensor;
    expect(values(after)).toEqual(values(before));
  });

  it('trains by model.fitDataset and stacks with other recurrent layers (functional API)', async () => {
    const inputs = tf.input({ shape: [null, FEATURES] });
    const hidden = tf.layers
      .lstm({ units: 4, returnSequences: true })
      .apply(inputs) as tf.SymbolicTensor;
    const memory = ntmLayer({ ...tiny, units: 4, returnSequences: true }).apply(
      hidden,
    ) as tf.SymbolicTensor;
    const outputs = ntmLayer({ ...tiny, seed: 8 }).apply(memory) as tf.SymbolicTensor;
    const model = tf.model({ inputs, outputs });
    model.compile({ optimizer: tf.train.adam(1e-2), loss: 'meanSquaredError' });
    const xs = input(4, 3);
    const ys = tf.ones([4, 2]);
    const dataset = tf.data
      .zip({ xs: tf.data.array(tf.unstack(xs)), ys: tf.data.array(tf.unstack(ys)) })
      .batch(2);
    const history = await model.fitDataset(dataset, { epochs: 3, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses.at(-1)).toBeLessThan(losses[0] as number);
  });
});

describe('ntmLayer: masking, state', () => {
  it('padded steps (tf.layers.masking) change neither the real steps nor the gradients', () => {
    const real = input(1, 3);
    const padding = tf.zeros([1, 2, FEATURES]);
    const layer = ntmLayer({ ...tiny, returnSequences: true });
    const masking = tf.layers.masking({ maskValue: 0 });
    const run = (x: tf.Tensor3D) => {
      const mask = masking.computeMask(x) as tf.Tensor;
      return layer.apply(x, { mask }) as tf.Tensor;
    };
    const unpadded = run(real);
    for (const [padded, at] of [
      [tf.concat([real, padding], 1), 0],
      [tf.concat([padding, real], 1), 2],
    ] as const) {
      const out = run(padded as tf.Tensor3D);
      expect(
        maxAbsDifference(values(out.slice([0, at, 0], [1, 3, 2])), values(unpadded)),
      ).toBeLessThanOrEqual(TOLERANCE);
      const pads = at === 0 ? out.slice([0, 3, 0], [1, 2, 2]) : out.slice([0, 0, 0], [1, 2, 2]);
      expect(Array.from(values(pads))).toEqual([0, 0, 0, 0]);
      // gradients of a loss on the real steps
      const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const gradsOf = (x: tf.Tensor3D, from: number) =>
        tf.variableGrads(() => weighted(run(x).slice([0, from, 0], [1, 3, 2])), variables).grads;
      const withPadding = gradsOf(padded as tf.Tensor3D, at);
      const without = gradsOf(real, 0);
      for (const v of variables) {
        expect(
          maxAbsDifference(
            values(withPadding[v.name] as tf.Tensor),
            values(without[v.name] as tf.Tensor),
          ),
          v.name,
        ).toBeLessThanOrEqual(TOLERANCE);
      }
    }
  });

  it('post-padded batches take the whole-sequence op and equal the step path (values, gradients)', async () => {
    // lengths 4, 2 and 0 in a batch of T = 4: padded steps are zero rows
    const lengths = [4, 2, 0];
    const keep = tf.tensor3d(
      lengths.flatMap((length) =>
        [0, 1, 2, 3].flatMap((t) => Array(FEATURES).fill(t < length ? 1 : 0)),
      ),
      [3, 4, FEATURES],
    );
    const x = tf.mul(input(3, 4), keep) as tf.Tensor3D;
    const mask = tf.layers.masking({ maskValue: 0 }).computeMask(x) as tf.Tensor;
    for (const returnSequences of [true, false]) {
      const fast = ntmLayer({ ...tiny, returnSequences });
      const stepping = ntmLayer({ ...tiny, returnSequences, returnState: true });
      const viaFast = () => fast.apply(x, { mask }) as tf.Tensor;
      const viaSteps = () => (stepping.apply(x, { mask }) as tf.Tensor[])[0] as tf.Tensor;
      expect(maxAbsDifference(values(viaFast()), values(viaSteps()))).toBeLessThanOrEqual(
        TOLERANCE,
      );
      const gradsOf = (layer: tf.layers.Layer, run: () => tf.Tensor) => {
        const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { grads } = tf.variableGrads(() => weighted(run()), variables);
        return layer.trainableWeights.map((w) => values(grads[w.name] as tf.Tensor));
      };
      const a = gradsOf(fast, viaFast);
      const b = gradsOf(stepping, viaSteps);
      a.forEach((g, i) =>
        expect(maxAbsDifference(g, b[i] as Float32Array)).toBeLessThanOrEqual(TOLERANCE),
      );
      const kernels = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernels.length;
      expect(await kernels(viaFast)).toBeLessThan(await kernels(viaSteps));
    }
  });

  it('a stateful layer over two halves equals one run over the whole; resetStates starts over', () => {
    const x = input(2, 6);
    const whole = ntmLayer({ ...tiny, returnSequences: true }).apply(x) as tf.Tensor;
    const stateful = ntmLayer({
      ...tiny,
      returnSequences: true,
      stateful: true,
      batchInputShape: [2, 3, FEATURES],
    });
    const first = stateful.apply(x.slice([0, 0, 0], [2, 3, FEATURES])) as tf.Tensor;
    const second = stateful.apply(x.slice([0, 3, 0], [2, 3, FEATURES])) as tf.Tensor;
    expect(
      maxAbsDifference(values(tf.concat([first, second], 1)), values(whole)),
    ).toBeLessThanOrEqual(TOLERANCE);
    stateful.resetStates();
    const again = stateful.apply(x.slice([0, 0, 0], [2, 3, FEATURES])) as tf.Tensor;
    expect(values(again)).toEqual(values(first));
  });

  it('returnState then initialState continues a sequence (concrete and symbolic)', () => {
    const x = input(2, 6);
    const layer = ntmLayer({ ...tiny, returnSequences: true, returnState: true });
    const [whole] = layer.apply(x) as tf.Tensor[];
    const [first, ...state] = layer.apply(x.slice([0, 0, 0], [2, 3, FEATURES])) as tf.Tensor[];
    expect(state.map((s) => s.shape.slice(1))).toEqual(layer.stateShapes);
    const [second] = layer.apply(x.slice([0, 3, 0], [2, 3, FEATURES]), {
      initialState: state,
    }) as tf.Tensor[];
    expect(
      maxAbsDifference(
        values(tf.concat([first as tf.Tensor, second as tf.Tensor], 1)),
        values(whole as tf.Tensor),
      ),
    ).toBeLessThanOrEqual(TOLERANCE);

    // the functional API: initial states as model inputs
    const runner = ntmLayer({ ...tiny, returnSequences: true });
    const xIn = tf.input({ shape: [3, FEATURES] });
    const stateIn = layer.stateShapes.map((shape) => tf.input({ shape }));
    const out = runner.apply(xIn, { initialState: stateIn }) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [xIn, ...stateIn], outputs: out });
    const viaModel = model.predict([x.slice([0, 3, 0], [2, 3, FEATURES]), ...state]) as tf.Tensor;
    expect(maxAbsDifference(values(viaModel), values(second as tf.Tensor))).toBeLessThanOrEqual(
      TOLERANCE,
    );
  });
});

describe('ntmLayer: serialisation of every option', () => {
  const options: [string, Partial<NtmLayerArgs>][] = [
    ['controller', { controller: { kind: 'feedforward', hiddenSizes: [5, 4] } }],
    ['clipValue', { clipValue: 3 }],
    ['memorySlots', { memorySlots: 7 }],
    ['memoryWidth', { memoryWidth: 4 }],
    ['readHeads', { readHeads: 2 }],
    ['writeHeads', { writeHeads: 2 }],
    ['shiftRange', { shiftRange: 2 }],
    ['keyActivation', { keyActivation: 'tanh' }],
    ['strengthActivation', { strengthActivation: 'oneplus' }],
    ['memoryInit', { memoryInit: 'random' }],
    ['memoryInitValue', { memoryInitValue: 0.25 }],
    ['initialWeighting', { initialWeighting: 'one-hot' }],
    ['initialReads', { initialReads: 'zeros' }],
    ['traceAddressing', { traceAddressing: true }],
    ['implementation', { implementation: 'composed' }],
    ['units', { units: 3 }],
    ['seed', { seed: 99 }],
    ['returnSequences', { returnSequences: true }],
    ['returnState', { returnState: true }],
    ['stateful', { stateful: true }],
    ['name', { name: 'my_ntm' }],
  ];
  for (const [field, option] of options) {
    it(`${field} survives model.save and tf.loadLayersModel`, async () => {
      const layer = ntmLayer({ ...tiny, ...option });
      const inputs = tf.input({ batchShape: [2, 4, FEATURES] });
      const model = tf.model({ inputs, outputs: layer.apply(inputs) as tf.SymbolicTensor[] });
      let saved: tf.io.ModelArtifacts | undefined;
      await model.save(
        tf.io.withSaveHandler(async (artifacts) => {
          saved = artifacts;
          return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
        }),
      );
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
      const copy = loaded.layers[1] as NtmLayer;
      expect(copy).toBeInstanceOf(NtmLayer);
      expect(copy.getConfig()).toEqual(layer.getConfig());
      expect(copy.getConfig()).toMatchObject(option);
      const x = input(2, 4);
      const a = [model.predict(x)].flat() as tf.Tensor[];
      const b = [loaded.predict(x)].flat() as tf.Tensor[];
      expect(b.map(values)).toEqual(a.map(values));
    });
  }
});

describe('ntmLayer: bad configs name the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ ...tiny, units: 0 }, /units/],
    [{ ...tiny, units: undefined }, /units/],
    [{ ...tiny, memorySlots: -1 }, /memorySlots/],
    [{ ...tiny, memorySlot: 8 }, /memorySlot/],
    [{ ...tiny, controller: { kind: 'gru' } }, /controller\.kind/],
    [{ ...tiny, returnSequences: 'yes' }, /returnSequences/],
    [{ ...tiny, stateful: 1 }, /stateful/],
    [{ ...tiny, seed: -1 }, /seed/],
    [{ ...tiny, inputSize: 3 }, /inputSize/],
    [{ ...tiny, outputSize: 3 }, /outputSize/],
    [{ ...tiny, type: 'dnc' }, /type/],
  ];
  for (const [config, pattern] of cases) {
    it(`rejects ${JSON.stringify(config)}`, () => {
      expect(() => ntmLayer(config as NtmLayerArgs)).toThrow(pattern);
    });
  }

  it('a stateful layer needs a fixed batch size; initialState needs the right tensors', () => {
    expect(() => ntmLayer({ ...tiny, stateful: true }).apply(input(2, 3))).not.toThrow();
    expect(() =>
      tf.sequential({ layers: [ntmLayer({ ...tiny, stateful: true, inputShape: [3, FEATURES] })] }),
    ).toThrow(/stateful.*batch/);
    const layer = ntmLayer({ ...tiny });
    expect(() => layer.apply(input(2, 3), { initialState: [tf.zeros([2, 6])] })).toThrow(
      /initialState of .* must be \d+ tensors/,
    );
  });
});
