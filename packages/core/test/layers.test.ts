import * as tf from '@tensorflow/tfjs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createModel,
  flattenState,
  layersModelFiles,
  MannLayer,
  ParameterStore,
  Rng,
  selectBackend,
  stateStructure,
  unflattenState,
  withVariableFactory,
  withModelType,
} from '@mann/core';

// The layer machinery of @mann/core on the LSTM baseline (the NTM and DNC layers have their own
// tests): the variable factory, state trees, the file IOHandler.

let dir = '';
beforeAll(async () => {
  await selectBackend();
  dir = await mkdtemp(join(tmpdir(), 'mann-core-layers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('withVariableFactory', () => {
  it('makes every parameter with the factory, with the values the store would draw', () => {
    const made: string[] = [];
    const own = new ParameterStore(new Rng(3));
    const reference = own.create('w', [2, 3], { kind: 'uniform', low: -1, high: 1 });
    const store = withVariableFactory(
      (name, initial, trainable) => {
        made.push(name);
        return tf.variable(initial.clone(), trainable);
      },
      () => new ParameterStore(new Rng(3)),
    );
    // the factory is captured when the store is made, so it applies after withVariableFactory returns
    const w = store.create('w', [2, 3], { kind: 'uniform', low: -1, high: 1 });
    const fixed = store.create('fixed', [1], { kind: 'zeros' }, { trainable: false });
    expect(made).toEqual(['w', 'fixed']);
    expect(Array.from(w.dataSync())).toEqual(Array.from(reference.dataSync()));
    expect(fixed.trainable).toBe(false);
    // stores made outside use tf.variable
    withVariableFactory(
      () => {
        throw new Error('must not be called');
      },
      () => undefined,
    );
    expect(() => new ParameterStore(new Rng(1)).create('x', [1], { kind: 'zeros' })).not.toThrow();
    own.dispose();
    store.dispose();
  });
});

describe('withModelType', () => {
  it("sets the class's model type, and names the class and the value when given another", () => {
    expect(withModelType('NtmLayer', 'ntm', { units: 3 })).toEqual({ units: 3, type: 'ntm' });
    expect(withModelType('NtmLayer', 'ntm', { units: 3, type: 'ntm' })).toEqual({
      units: 3,
      type: 'ntm',
    });
    expect(() => withModelType('DncCell', 'dnc', { units: 3, type: 'lstm' })).toThrow(
      `type of DncCell must be 'dnc' (or left out), got "lstm"`,
    );
  });
});

describe('state trees', () => {
  it('flatten depth first and unflatten to the same structure', () => {
    const a = tf.zeros([2, 1]);
    const b = tf.ones([2, 3]);
    const c = tf.fill([2, 2], 2);
    const tree = { controller: { layers: [{ h: a, c: b }] }, reads: c };
    expect(flattenState(tree)).toEqual([a, b, c]);
    const rebuilt = unflattenState(stateStructure(tree), [c, a, b]) as typeof tree;
    expect(rebuilt.controller.layers[0]?.h).toBe(c);
    expect(rebuilt.reads).toBe(b);
    expect(() => unflattenState(stateStructure(tree), [a, b])).toThrow(/more than 2/);
    expect(() => flattenState({ link: { toTensor: () => a } }, 'state')).toThrow(
      /state\.link\.toTensor/,
    );
    tf.dispose([a, b, c]);
  });
});

describe('MannLayer on the LSTM baseline', () => {
  it('equals the model and saves to model.json + weights.bin that load back', async () => {
    const layer = new MannLayer({
      type: 'lstm',
      units: 2,
      hiddenSizes: [5],
      seed: 4,
      returnSequences: true,
    });
    const x = tf.randomUniform([2, 3, 4], -1, 1, 'float32', 1) as tf.Tensor3D;
    const y = layer.apply(x) as tf.Tensor;
    const reference = createModel(
      { type: 'lstm', inputSize: 4, outputSize: 2, hiddenSizes: [5] },
      { seed: 4 },
    );
    expect(Array.from(y.dataSync())).toEqual(Array.from(reference.run(x).outputs.dataSync()));
    const inputs = tf.input({ shape: [3, 4] });
    const model = tf.model({ inputs, outputs: layer.apply(inputs) as tf.SymbolicTensor });
    const path = join(dir, 'lstm');
    await model.save(layersModelFiles(path));
    const json = JSON.parse(await readFile(join(path, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
    expect(json.format).toBe('layers-model');
    const loaded = await tf.loadLayersModel(layersModelFiles(path));
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from(y.dataSync()),
    );
    reference.dispose();
  });

  it('writes files that load over HTTP, as a browser loads them (tf.loadLayersModel(url))', async () => {
    const layer = new MannLayer({
      type: 'lstm',
      units: 3,
      hiddenSizes: [4],
      seed: 2,
      inputShape: [5, 2],
    });
    const model = tf.sequential({ layers: [layer, tf.layers.dense({ units: 1 })] });
    const path = join(dir, 'served');
    await model.save(layersModelFiles(path));
    const server = createServer((request, response) => {
      readFile(join(path, (request.url ?? '/').slice(1)))
        .then((data) => response.end(data))
        .catch(() => response.writeHead(404).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const loaded = await tf.loadLayersModel(`http://127.0.0.1:${port}/model.json`);
      const x = tf.randomUniform([2, 5, 2], -1, 1, 'float32', 3);
      expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
        Array.from((model.predict(x) as tf.Tensor).dataSync()),
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('names the path of a missing or broken model.json', async () => {
    await expect(tf.loadLayersModel(layersModelFiles(join(dir, 'nothing')))).rejects.toThrow(
      /nothing.model\.json/,
    );
    const broken = join(dir, 'broken');
    await layersModelFiles(broken).save!({ modelTopology: {}, weightSpecs: [] }).catch(
      () => undefined,
    );
    await writeFile(join(broken, 'model.json'), '{"format": "layers-model"}');
    await expect(tf.loadLayersModel(layersModelFiles(broken))).rejects.toThrow(/no modelTopology/);
  });

  it('names bad fields: type, units, unknown model options', () => {
    expect(() => new MannLayer({ type: 'nope', units: 2 })).toThrow(/nope/);
    expect(() => new MannLayer({ type: 'lstm', units: 1.5 })).toThrow(/units/);
    expect(() => new MannLayer({ type: 'lstm', units: 2, hiddenSize: [3] })).toThrow(/hiddenSize/);
  });
});
