import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MannError, ParameterStore, Rng, selectBackend } from '@mann/core';
import { withBackend } from '@mann/core/testing';
import { expectBitwiseEqual } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

function buildStore(seed: number): ParameterStore {
  const store = new ParameterStore(new Rng(seed));
  const layer = store.scope('controller').scope('lstm0');
  layer.create('kernel', [30, 20], { kind: 'glorotUniform', fanIn: 30, fanOut: 20 });
  layer.create('bias', [20], { kind: 'constant', value: 0.25 });
  store.create('zeros', [2, 3], { kind: 'zeros' });
  store.create('uniform', [400], { kind: 'uniform', low: 2, high: 3 });
  store.create('normal', [4000], { kind: 'normal', mean: -1, std: 0.5 });
  return store;
}

describe('ParameterStore', () => {
  it('names parameters by scope, in creation order, with the requested shapes', () => {
    const store = buildStore(1);
    expect(store.names()).toEqual([
      'controller/lstm0/kernel',
      'controller/lstm0/bias',
      'zeros',
      'uniform',
      'normal',
    ]);
    expect(store.get('controller/lstm0/kernel').shape).toEqual([30, 20]);
    expect(store.entries().map(([n, v]) => [n, v.shape])).toEqual(
      store.names().map((n) => [n, store.get(n).shape]),
    );
    expect(store.count()).toBe(600 + 20 + 6 + 400 + 4000);
    expect(store.scope('a').scope('b').prefix).toBe('a/b');
  });

  it('draws each initializer within its range and with its moments', () => {
    const store = buildStore(2);
    const values = (name: string) => Array.from(store.get(name).dataSync());
    const limit = Math.sqrt(6 / 50);
    const kernel = values('controller/lstm0/kernel');
    expect(Math.max(...kernel.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...kernel.map(Math.abs))).toBeGreaterThan(0.9 * limit);
    expect(values('controller/lstm0/bias')).toEqual(new Array(20).fill(0.25));
    expect(values('zeros')).toEqual(new Array(6).fill(0));
    const uniform = values('uniform');
    expect(Math.min(...uniform)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...uniform)).toBeLessThan(3);
    const normal = values('normal');
    const mean = normal.reduce((a, b) => a + b, 0) / normal.length;
    const std = Math.sqrt(normal.reduce((a, b) => a + (b - mean) ** 2, 0) / normal.length);
    expect(Math.abs(mean + 1)).toBeLessThan(0.03); // standard error 0.008
    expect(Math.abs(std - 0.5)).toBeLessThan(0.03);
  });

  it('is deterministic for a seed, and different seeds give different values', () => {
    const a = buildStore(3).snapshot();
    const b = buildStore(3).snapshot();
    const c = buildStore(4).snapshot();
    for (const name of Object.keys(a)) {
      expectBitwiseEqual(a[name]!.values, b[name]!.values, name);
    }
    expect(Array.from(c.uniform!.values)).not.toEqual(Array.from(a.uniform!.values));
  });

  it('rejects a duplicate name or a bad shape, naming the parameter and the shape', () => {
    const store = new ParameterStore(new Rng(0));
    store.create('w', [2], { kind: 'zeros' });
    expect(() => store.create('w', [3], { kind: 'zeros' })).toThrow(MannError);
    expect(() => store.create('w', [3], { kind: 'zeros' })).toThrow("parameter 'w' already exists");
    expect(() => store.create('v', [3, -1], { kind: 'zeros' })).toThrow(
      "parameter 'v' must have positive integer sizes, got [3, -1]",
    );
    expect(() => store.create('v', [0], { kind: 'zeros' })).toThrow(MannError);
    expect(() => store.create('v', [2.5], { kind: 'zeros' })).toThrow(MannError);
    expect(() => store.get('nope')).toThrow("no parameter 'nope'; known: w");
  });

  it('keeps stores with the same logical names apart', () => {
    const a = new ParameterStore(new Rng(0));
    const b = new ParameterStore(new Rng(0));
    a.create('w', [2], { kind: 'constant', value: 1 });
    b.create('w', [2], { kind: 'constant', value: 2 });
    expect(a.get('w').name).not.toBe(b.get('w').name);
    expect(Array.from(a.get('w').dataSync())).toEqual([1, 1]);
    expect(Array.from(b.get('w').dataSync())).toEqual([2, 2]);
  });

  it('snapshot returns copies, on cpu too (where dataSync exposes the live buffer)', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await withBackend(backend, () => {
        const store = buildStore(5);
        const before = store.get('zeros').dataSync().slice();
        const snapshot = store.snapshot();
        snapshot.zeros!.values.fill(99);
        expectBitwiseEqual(store.get('zeros').dataSync(), before, backend);
        store.dispose();
      });
    }
  });

  it('load restores a snapshot exactly', () => {
    const source = buildStore(6);
    const target = buildStore(7);
    target.load(source.snapshot());
    for (const name of source.names()) {
      expectBitwiseEqual(target.get(name).dataSync(), source.get(name).dataSync(), name);
    }
  });

  it('load rejects missing, unexpected or misshapen parameters, naming them', () => {
    const store = buildStore(8);
    const snapshot = store.snapshot();
    const { zeros: _zeros, ...missing } = snapshot;
    expect(() => store.load(missing)).toThrow(MannError);
    expect(() => store.load(missing)).toThrow(
      'parameters do not match the model: missing [zeros], unexpected []',
    );
    expect(() =>
      store.load({ ...snapshot, extra: { shape: [1], values: new Float32Array(1) } }),
    ).toThrow('parameters do not match the model: missing [], unexpected [extra]');
    expect(() =>
      store.load({ ...snapshot, zeros: { shape: [3, 2], values: new Float32Array(6) } }),
    ).toThrow("parameter 'zeros' has shape [3, 2] in the source, the model expects [2, 3]");
    expect(() =>
      store.load({ ...snapshot, zeros: { shape: [2, 3, 1], values: new Float32Array(6) } }),
    ).toThrow("parameter 'zeros' has shape [2, 3, 1] in the source, the model expects [2, 3]");
  });

  it('keeps non-trainable parameters in snapshots but out of trainableEntries and count', () => {
    const store = new ParameterStore(new Rng(10));
    store.create('learned', [2, 3], { kind: 'zeros' });
    const fixed = store
      .scope('memory')
      .create('initial', [4], { kind: 'constant', value: 0.5 }, { trainable: false });
    expect(fixed.trainable).toBe(false);
    expect(store.get('learned').trainable).toBe(true);
    expect(store.names()).toEqual(['learned', 'memory/initial']);
    expect(store.trainableEntries().map(([name]) => name)).toEqual(['learned']);
    expect(store.count()).toBe(6);
    expect(Array.from(store.snapshot()['memory/initial']!.values)).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('dispose frees every variable', () => {
    const before = tf.memory().numTensors;
    const store = buildStore(9);
    expect(tf.memory().numTensors).toBe(before + 5);
    store.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(store.names()).toEqual([]);
  });
});
