import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParameterStore, Rng, selectBackend } from '@mann/core';
import { gradientCheck, tensorsLeaked } from '@mann/core/testing';
import { NtmMemory, createNtmMemory, resolveNtmMemoryConfig, splitInterface } from '@mann/ntm';
import type { NtmMemoryConfig, NtmState } from '@mann/ntm';
import {
  contentOracle,
  interpolateOracle,
  maxDifference,
  randomDistribution,
  randomTensor,
  readOracle,
  rowSums,
  sharpenOracle,
  shiftOracle,
  toArray,
  writeOracle,
  type Cube,
  type Matrix,
} from './oracle.js';
import { describeCheck, weightedSum } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

function makeMemory(
  options: Partial<NtmMemoryConfig> = {},
  seed = 1,
): { memory: NtmMemory; store: ParameterStore } {
  const store = new ParameterStore(new Rng(seed));
  const memory = createNtmMemory(resolveNtmMemoryConfig(options), store.scope('memory'));
  return { memory, store };
}

/** A random state with distributions as weightings. */
function randomState(rng: Rng, batch: number, config: NtmMemoryConfig): NtmState {
  const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = config;
  return {
    memory: randomTensor(rng, [batch, n, w]),
    readWeights: randomDistribution(rng, [batch, r, n], 0.1),
    writeWeights: randomDistribution(rng, [batch, hw, n], 0.1),
  };
}

const small: Partial<NtmMemoryConfig> = {
  memorySlots: 6,
  memoryWidth: 4,
  readHeads: 2,
  writeHeads: 2,
};

describe('NtmMemory initial state', () => {
  it('defaults: constant memory, learned weightings (distributions) and read vectors', () => {
    const { memory, store } = makeMemory({ memorySlots: 5, memoryWidth: 3, readHeads: 2 });
    tf.tidy(() => {
      expect(store.names()).toEqual(['memory/initialWeightLogits', 'memory/initialReadBias']);
      const state = memory.initialState(4);
      expect(state.memory.shape).toEqual([4, 5, 3]);
      expect(Array.from(state.memory.dataSync()).every((v) => Math.abs(v - 1e-6) < 1e-12)).toBe(
        true,
      );
      expect(state.readWeights.shape).toEqual([4, 2, 5]);
      expect(state.writeWeights.shape).toEqual([4, 1, 5]);
      for (const s of [...rowSums(state.readWeights), ...rowSums(state.writeWeights)])
        expect(s).toBeCloseTo(1, 5);
      // learned logits start random: the initial weighting is not uniform
      const w = state.readWeights.dataSync();
      expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(1e-3);
      const reads = memory.initialReads(4);
      expect(reads.shape).toEqual([4, 6]);
      const bias = store.get('memory/initialReadBias');
      expect(
        maxDifference(toArray(reads.slice([0, 0], [1, 6])), toArray(tf.tanh(bias).reshape([1, 6]))),
      ).toBeLessThan(1e-6);
    });
    store.dispose();
  });

  it('uniform and one-hot weightings, zero read vectors, learned and random memory', () => {
    tf.tidy(() => {
      const uniform = makeMemory({
        memorySlots: 4,
        memoryWidth: 2,
        initialWeighting: 'uniform',
        initialReads: 'zeros',
      });
      expect(uniform.store.names()).toEqual([]);
      expect(Array.from(uniform.memory.initialState(2).readWeights.dataSync())).toEqual([
        0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25,
      ]);
      expect(Array.from(uniform.memory.initialReads(2).dataSync())).toEqual([0, 0, 0, 0]);
      const oneHot = makeMemory({ memorySlots: 3, memoryWidth: 2, initialWeighting: 'one-hot' });
      expect(Array.from(oneHot.memory.initialState(1).writeWeights.dataSync())).toEqual([1, 0, 0]);
      const zeros = makeMemory({ memorySlots: 3, memoryWidth: 2, initialWeighting: 'zeros' });
      expect(zeros.store.names()).not.toContain('memory/initialWeightLogits');
      const zeroState = zeros.memory.initialState(2);
      expect(zeroState.readWeights.shape).toEqual([2, 1, 3]);
      expect(Array.from(zeroState.readWeights.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
      expect(Array.from(zeroState.writeWeights.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
      for (const init of ['learned', 'random'] as const) {
        const { memory, store } = makeMemory({ memorySlots: 4, memoryWidth: 3, memoryInit: init });
        const m0 = store.get('memory/initialMemory');
        expect(m0.shape).toEqual([4, 3]);
        const limit = 1 / Math.sqrt(7);
        expect(Array.from(m0.dataSync()).every((v) => Math.abs(v) <= limit)).toBe(true);
        const state = memory.initialState(2);
        expect(maxDifference(toArray(state.memory), toArray(tf.stack([m0, m0])))).toBe(0);
        // learned memory trains; random memory is held fixed (non-trainable: the trainer and
        // variableGrads skip it, checkpoints keep it)
        expect(m0.trainable).toBe(init === 'learned');
        if (init === 'learned') {
          const { grads } = tf.variableGrads(
            () => weightedSum(memory.initialState(2).memory),
            [m0],
          );
          const norm = tf.norm(grads[m0.name] as tf.Tensor).dataSync()[0] as number;
          expect(norm).toBeGreaterThan(0);
        }
        store.dispose();
      }
      uniform.store.dispose();
      oneHot.store.dispose();
    });
  });
});

describe('createNtmMemory', () => {
  const kernels = (memory: NtmMemory): Promise<string[]> =>
    tf
      .profile(() => {
        tf.tidy(() => {
          memory.step(tf.zeros([1, memory.interfaceSize]), memory.initialState(1));
        });
      })
      .then((info) => info.kernelNames);

  it('builds the fused step for implementation fused and the composed reference otherwise', async () => {
    const store = new ParameterStore(new Rng(1));
    const fused = createNtmMemory(resolveNtmMemoryConfig(small), store.scope('a'));
    const composed = createNtmMemory(
      resolveNtmMemoryConfig({ ...small, implementation: 'composed' }),
      store.scope('b'),
    );
    expect(fused.config.implementation).toBe('fused');
    expect(composed.config.implementation).toBe('composed');
    expect(await kernels(fused)).toContain('MannNtmFusedStep');
    expect(await kernels(composed)).not.toContain('MannNtmFusedStep');
  });

  it('the reference class built directly is composed, whatever the config asks', async () => {
    const store = new ParameterStore(new Rng(1));
    const memory = new NtmMemory(resolveNtmMemoryConfig(small), store.scope('m'));
    expect(memory.config.implementation).toBe('composed');
    expect(await kernels(memory)).not.toContain('MannNtmFusedStep');
  });
});

describe('NtmMemory step', () => {
  it('matches a loop oracle of the whole step (address from M_{t-1}, read M_{t-1}, erase then add)', () => {
    const { memory, store } = makeMemory({ ...small, shiftRange: 1, keyActivation: 'tanh' });
    tf.tidy(() => {
      const rng = new Rng(21);
      const state = randomState(rng, 2, memory.config);
      const vector = randomTensor<tf.Tensor2D>(rng, [2, memory.interfaceSize], -2, 2);
      const out = memory.step(vector, state);
      const heads = splitInterface(vector, memory.layout, { key: 'tanh', strength: 'softplus' });
      const m = toArray<Cube>(state.memory);
      const previous = [...toArray<Cube>(state.readWeights)].map((r, b) => [
        ...r,
        ...(toArray<Cube>(state.writeWeights)[b] as Matrix),
      ]);
      const content = contentOracle(m, toArray<Cube>(heads.key), toArray<Matrix>(heads.beta));
      const weights = sharpenOracle(
        shiftOracle(
          interpolateOracle(content, previous, toArray<Matrix>(heads.gate)),
          toArray<Cube>(heads.shift),
        ),
        toArray<Matrix>(heads.gamma),
      );
      const readWeights = weights.map((w) => w.slice(0, 2));
      const writeWeights = weights.map((w) => w.slice(2));
      expect(maxDifference(toArray(out.state.readWeights), readWeights)).toBeLessThan(1e-5);
      expect(maxDifference(toArray(out.state.writeWeights), writeWeights)).toBeLessThan(1e-5);
      const reads = readOracle(m, readWeights).map((r) => r.flat());
      expect(maxDifference(toArray(out.reads), reads)).toBeLessThan(1e-5);
      const written = writeOracle(
        m,
        writeWeights,
        toArray<Cube>(heads.erase),
        toArray<Cube>(heads.add),
      );
      expect(maxDifference(toArray(out.state.memory), written)).toBeLessThan(1e-5);
      for (const s of [...rowSums(out.state.readWeights), ...rowSums(out.state.writeWeights)]) {
        expect(s).toBeCloseTo(1, 5);
      }
    });
    store.dispose();
  });

  it('does not change the state it was given, and leaks nothing', async () => {
    const { memory, store } = makeMemory(small);
    const rng = new Rng(22);
    const state = randomState(rng, 3, memory.config);
    const vector = randomTensor<tf.Tensor2D>(rng, [3, memory.interfaceSize]);
    const before = toArray(state.memory);
    const leaked = await tensorsLeaked(() => {
      const out = memory.step(vector, state, { trace: true, traceAddressing: true });
      tf.dispose([out.reads, out.state, out.trace ?? {}] as tf.TensorContainer);
    });
    expect(leaked).toBe(0);
    expect(toArray(state.memory)).toEqual(before);
    tf.dispose([state, vector] as tf.TensorContainer);
    store.dispose();
  });

  it('traces weightings, and the addressing internals when asked', () => {
    const { memory, store } = makeMemory({ ...small, shiftRange: 2, writeHeads: 3 });
    tf.tidy(() => {
      const rng = new Rng(23);
      const state = randomState(rng, 2, memory.config);
      const vector = randomTensor<tf.Tensor2D>(rng, [2, memory.interfaceSize]);
      expect(memory.step(vector, state).trace).toBeUndefined();
      const plain = memory.step(vector, state, { trace: true }).trace ?? {};
      expect(Object.keys(plain).sort()).toEqual(['readWeights', 'writeWeights']);
      expect(plain['readWeights']?.shape).toEqual([2, 2, 6]);
      expect(plain['writeWeights']?.shape).toEqual([2, 3, 6]);
      const full = memory.step(vector, state, { trace: true, traceAddressing: true }).trace ?? {};
      const shapes = Object.fromEntries(Object.entries(full).map(([k, v]) => [k, v.shape]));
      expect(shapes).toEqual({
        readWeights: [2, 2, 6],
        writeWeights: [2, 3, 6],
        'read.contentWeights': [2, 2, 6],
        'write.contentWeights': [2, 3, 6],
        'read.beta': [2, 2],
        'write.beta': [2, 3],
        'read.gate': [2, 2],
        'write.gate': [2, 3],
        'read.shift': [2, 2, 5],
        'write.shift': [2, 3, 5],
        'read.gamma': [2, 2],
        'write.gamma': [2, 3],
        'write.erase': [2, 3, 4],
        'write.add': [2, 3, 4],
      });
      for (const s of rowSums(full['read.contentWeights'] as tf.Tensor))
        expect(s).toBeCloseTo(1, 5);
      for (const g of full['read.gamma']?.dataSync() ?? []) expect(g).toBeGreaterThanOrEqual(1);
    });
    store.dispose();
    const traced = makeMemory({ ...small, traceAddressing: true });
    tf.tidy(() => {
      const state = randomState(new Rng(24), 1, traced.memory.config);
      const trace =
        traced.memory.step(tf.zeros([1, traced.memory.interfaceSize]), state, { trace: true })
          .trace ?? {};
      expect(Object.keys(trace)).toContain('read.shift');
    });
    traced.store.dispose();
  });

  it('works with read heads only', () => {
    const { memory, store } = makeMemory({ ...small, writeHeads: 0 });
    tf.tidy(() => {
      const state = memory.initialState(2);
      const out = memory.step(tf.ones([2, memory.interfaceSize]), state, {
        trace: true,
        traceAddressing: true,
      });
      expect(out.reads.shape).toEqual([2, 8]);
      expect(out.state.writeWeights.shape).toEqual([2, 0, 6]);
      expect(toArray(out.state.memory)).toEqual(toArray(state.memory));
    });
    store.dispose();
  });

  it('gives finite values and gradients on an all-zero memory', () => {
    const { memory, store } = makeMemory({ ...small, memoryInitValue: 0 });
    tf.tidy(() => {
      const state = memory.initialState(2);
      expect(Math.max(...Array.from(state.memory.abs().dataSync()))).toBe(0);
      const vector = randomTensor<tf.Tensor2D>(new Rng(25), [2, memory.interfaceSize], -3, 3);
      const loss = (v: tf.Tensor, m: tf.Tensor): tf.Scalar => {
        const out = memory.step(v as tf.Tensor2D, { ...state, memory: m as tf.Tensor3D });
        return tf.add(weightedSum(out.reads), weightedSum(out.state.memory, 2));
      };
      const grads = tf.grads(loss)([vector, state.memory]);
      expect(Number.isFinite(loss(vector, state.memory).dataSync()[0])).toBe(true);
      for (const g of grads) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      expect(tf.norm(grads[0] as tf.Tensor).dataSync()[0]).toBeGreaterThan(0);
    });
    store.dispose();
  });

  it('has finite-difference gradients through a whole step', () => {
    const { memory, store } = makeMemory({
      memorySlots: 5,
      memoryWidth: 3,
      readHeads: 1,
      writeHeads: 2,
    });
    tf.tidy(() => {
      const rng = new Rng(26);
      const state = randomState(rng, 1, memory.config);
      const vector = randomTensor<tf.Tensor2D>(rng, [1, memory.interfaceSize]);
      const result = gradientCheck(
        (v, m, r, w) => {
          const out = memory.step(v as tf.Tensor2D, {
            memory: m as tf.Tensor3D,
            readWeights: r as tf.Tensor3D,
            writeWeights: w as tf.Tensor3D,
          });
          return tf.addN([
            weightedSum(out.reads, 1),
            weightedSum(out.state.memory, 2),
            weightedSum(out.state.readWeights, 3),
            weightedSum(out.state.writeWeights, 4),
          ]) as tf.Scalar;
        },
        [vector, state.memory, state.readWeights, state.writeWeights],
        { delta: 1e-3, atol: 3e-3, maxElements: 80 },
      );
      expect(result.ok, describeCheck(result)).toBe(true);
    });
    store.dispose();
  });

  it('names a state that does not fit the memory', () => {
    const { memory, store } = makeMemory(small);
    tf.tidy(() => {
      const state = memory.initialState(2);
      expect(() => memory.step(tf.zeros([2, memory.interfaceSize + 1]), state)).toThrow(
        /interfaceVector must have shape/,
      );
      expect(() =>
        memory.step(tf.zeros([2, memory.interfaceSize]), { ...state, memory: tf.zeros([2, 5, 4]) }),
      ).toThrow(/state.memory must have shape \[2, 6, 4\]/);
    });
    store.dispose();
  });
});
