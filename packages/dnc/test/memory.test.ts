import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, tidy } from '@mann/core';
import {
  createDncMemory,
  DncMemory,
  isResidentLink,
  readLink,
  sparseLinkToDense,
  type DncMemoryConfig,
  type DncState,
} from '@mann/dnc';
import {
  expectClose,
  expectGradientsOnBothBackends,
  nest,
  onBothBackends,
  rngFor,
  uniform,
  weightings,
} from './helpers.js';
import {
  dncStepOracle,
  linkOracle,
  precedenceOracle,
  type Matrix,
  type OracleState,
} from './oracles.js';

beforeAll(async () => {
  await selectBackend();
});

const small = { memorySlots: 6, memoryWidth: 4, readHeads: 2, writeHeads: 1 };

/** The link of a state as a dense [B, Hw, N, N] tensor, whatever its kind. */
function denseLink(state: DncState): tf.Tensor {
  const link = readLink(state.link);
  return link instanceof tf.Tensor ? link : sparseLinkToDense(link);
}

/** The state's tensors in a fixed order (the link as its dense matrix). */
function stateTensors(state: DncState): tf.Tensor[] {
  return [
    state.memory,
    state.usage,
    denseLink(state),
    state.precedence,
    state.readWeights,
    state.writeWeights,
  ];
}

/**
 * A random but valid starting state, as tensors' values (batch first) and as one oracle state
 * per example: random memory and usage, weightings that sum to <= 1, and a link and precedence
 * built by the oracle from random writes. (From the all-zero state the content weights are
 * uniform, and float32 and float64 then break the resulting near-ties of usage differently.)
 */
function randomStart(seed: number, c: typeof small, batch: number): OracleState[] {
  const rng = rngFor(seed);
  const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = c;
  return Array.from({ length: batch }, () => {
    let link: Matrix[] = Array.from({ length: hw }, () =>
      Array.from({ length: n }, () => new Array<number>(n).fill(0)),
    );
    let precedence: Matrix = Array.from({ length: hw }, () => new Array<number>(n).fill(0));
    for (let t = 0; t < 3; t++) {
      const writes = nest(weightings(rng, hw, n, { sharpness: 2 }), [hw, n]) as Matrix;
      link = linkOracle(link, precedence, writes);
      precedence = precedenceOracle(precedence, writes);
    }
    return {
      memory: nest(uniform(rng, n * w, -1, 1), [n, w]) as Matrix,
      usage: Array.from(uniform(rng, n)),
      link,
      precedence,
      readWeights: nest(weightings(rng, r, n), [r, n]) as Matrix,
      writeWeights: nest(weightings(rng, hw, n), [hw, n]) as Matrix,
    };
  });
}

/** The tensors of per-example oracle states (a sparse link stores every column of its row). */
function toDncState(states: OracleState[], sparse: boolean): DncState {
  const b = states.length;
  const [n, w] = [states[0]?.memory.length as number, states[0]?.memory[0]?.length as number];
  const hw = states[0]?.link.length as number;
  const r = states[0]?.readWeights.length as number;
  const linkValues = tf.tensor4d(
    states.flatMap((s) => s.link.flat(2)),
    [b, hw, n, n],
  );
  const columns = tf.tensor4d(
    Array.from({ length: b * hw * n * n }, (_, i) => i % n),
    [b, hw, n, n],
    'int32',
  );
  return {
    memory: tf.tensor3d(
      states.flatMap((s) => s.memory.flat()),
      [b, n, w],
    ),
    usage: tf.tensor2d(
      states.flatMap((s) => s.usage),
      [b, n],
    ),
    link: sparse ? { values: linkValues, columns } : linkValues,
    precedence: tf.tensor3d(
      states.flatMap((s) => s.precedence.flat()),
      [b, hw, n],
    ),
    readWeights: tf.tensor3d(
      states.flatMap((s) => s.readWeights.flat()),
      [b, r, n],
    ),
    writeWeights: tf.tensor3d(
      states.flatMap((s) => s.writeWeights.flat()),
      [b, hw, n],
    ),
  };
}

/** Runs the memory over `interfaces` from `start`; returns reads and state of every step. */
function runMemory(
  memory: DncMemory,
  interfaces: Float32Array[],
  start: OracleState[],
): tf.Tensor[] {
  const batch = start.length;
  let state = toDncState(start, memory.config.sparseLinks);
  const out: tf.Tensor[] = [];
  for (const xi of interfaces) {
    const step = memory.step(tf.tensor2d(xi, [batch, memory.interfaceSize]), state);
    state = step.state;
    out.push(step.reads, ...stateTensors(state));
  }
  return out;
}

function oracleOutputs(s: OracleState, reads: Matrix): number[][] {
  return [
    reads.flat(),
    s.memory.flat(),
    s.usage,
    s.link.flat(2),
    s.precedence.flat(),
    s.readWeights.flat(),
    s.writeWeights.flat(),
  ];
}

const configs: [string, Partial<DncMemoryConfig>][] = [
  ['plain DNC', small],
  ['two write heads', { ...small, writeHeads: 2, readHeads: 3 }],
  [
    'DNC-MD: masking, deallocation, link sharpness',
    { ...small, masking: true, deallocation: true, linkSharpness: true },
  ],
  ['deallocation only', { ...small, deallocation: true }],
  ['sparse links with K >= N', { ...small, writeHeads: 2, sparseLinks: true, sparseLinkK: 6 }],
];

describe('createDncMemory', () => {
  it('builds the fused memory (resident link) by default and the composed reference on request', () => {
    const fused = createDncMemory({ memorySlots: 4, memoryWidth: 3 });
    const composed = createDncMemory({
      memorySlots: 4,
      memoryWidth: 3,
      implementation: 'composed',
    });
    expect(fused.config.implementation).toBe('fused');
    expect(composed.config.implementation).toBe('composed');
    tf.tidy(() => {
      expect(isResidentLink(fused.initialState(1).link)).toBe(true);
      expect(isResidentLink(composed.initialState(1).link)).toBe(false);
    });
  });

  it('the reference class built directly is composed, whatever the config asks', () => {
    const memory = new DncMemory({ memorySlots: 4, memoryWidth: 3, implementation: 'fused' });
    expect(memory.config.implementation).toBe('composed');
    tf.tidy(() => {
      expect(isResidentLink(memory.initialState(1).link)).toBe(false);
    });
  });
});

describe('DncMemory.step', () => {
  for (const [name, config] of configs) {
    it(`matches the whole-step loop oracle over 4 steps: ${name} (cpu and wasm)`, async () => {
      const memory = createDncMemory(config);
      const batch = 2;
      const rng = rngFor(71);
      const interfaces = Array.from({ length: 4 }, () =>
        uniform(rng, batch * memory.interfaceSize, -2, 2),
      );
      const c = { ...small, ...config };
      const start = randomStart(74, c, batch);
      const out = await onBothBackends(() => runMemory(memory, interfaces, start), 2e-5);
      const options = {
        readHeads: c.readHeads,
        writeHeads: c.writeHeads,
        width: c.memoryWidth,
        ...config,
      };
      for (let b = 0; b < batch; b++) {
        let state = start[b] as OracleState;
        interfaces.forEach((xi, t) => {
          const size = memory.interfaceSize;
          const result = dncStepOracle(
            Array.from(xi.slice(b * size, (b + 1) * size)),
            state,
            options,
          );
          state = result.state;
          const expected = oracleOutputs(state, result.reads);
          expected.forEach((values, k) => {
            const actual = out[7 * t + k] as Float32Array;
            const per = actual.length / batch;
            expectClose(
              actual.slice(b * per, (b + 1) * per),
              values,
              2e-5,
              `step ${t} output ${k} example ${b}`,
            );
          });
        });
      }
    });
  }

  it('keeps the invariants over 25 random steps', () => {
    const memory = createDncMemory({ ...small, writeHeads: 2 });
    const rng = rngFor(72);
    const batch = 3;
    let state = memory.initialState(batch);
    const { memorySlots: n } = small;
    const sums = (t: tf.Tensor): number[] => Array.from(tf.tidy(() => tf.sum(t, -1)).dataSync());
    for (let t = 0; t < 25; t++) {
      const xi = uniform(rng, batch * memory.interfaceSize, -3, 3);
      const next = tidy(() => {
        const step = memory.step(tf.tensor2d(xi, [batch, memory.interfaceSize]), state, {
          trace: true,
        });
        const trace = step.trace as Record<string, tf.Tensor>;
        const usage = step.state.usage.dataSync();
        expect(Math.min(...usage)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...usage)).toBeLessThanOrEqual(1);
        for (const key of ['writeWeights', 'allocation', 'readWeights']) {
          for (const s of sums(trace[key] as tf.Tensor))
            expect(s, key).toBeLessThanOrEqual(1 + 1e-5);
        }
        for (const s of sums(step.state.precedence)) expect(s).toBeLessThanOrEqual(1 + 1e-5);
        const link = nest(denseLink(step.state).dataSync(), [batch * 2, n, n]) as Matrix[];
        for (const l of link) {
          for (let i = 0; i < n; i++) {
            expect((l[i] as number[])[i]).toBe(0);
            expect((l[i] as number[]).reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(1 + 1e-5);
            expect(l.reduce((a, row) => a + (row[i] as number), 0)).toBeLessThanOrEqual(1 + 1e-5);
          }
        }
        return step.state;
      });
      tf.dispose(stateTensors(state));
      state = next;
    }
    tf.dispose(stateTensors(state));
  });

  it('traces the documented keys with the documented shapes', () => {
    const memory = createDncMemory({ ...small, writeHeads: 2 });
    const shapes = tf.tidy(() => {
      const step = memory.step(tf.zeros([3, memory.interfaceSize]), memory.initialState(3), {
        trace: true,
      });
      return Object.fromEntries(Object.entries(step.trace ?? {}).map(([k, v]) => [k, v.shape]));
    });
    expect(shapes).toEqual({
      readWeights: [3, 2, 6],
      writeWeights: [3, 2, 6],
      usage: [3, 6],
      allocation: [3, 2, 6],
      freeGates: [3, 2],
      allocationGate: [3, 2],
      writeGate: [3, 2],
      readModes: [3, 2, 5],
    });
  });

  it('rejects a state of the wrong kind or shape', () => {
    const dense = createDncMemory(small);
    const sparse = createDncMemory({ ...small, sparseLinks: true });
    tf.tidy(() => {
      const xi = tf.zeros([1, dense.interfaceSize]) as tf.Tensor2D;
      expect(() => dense.step(xi, sparse.initialState(1))).toThrow(/state.link must be a dense/);
      expect(() => dense.step(tf.zeros([1, 3]), dense.initialState(1))).toThrow(
        /interfaceVector must have shape/,
      );
    });
  });
});

/** An interface vector [1, size] with the given field logits and `fill` elsewhere. */
function interfaceVector(
  memory: DncMemory,
  fields: Record<string, number | number[]>,
): Float32Array {
  const values = new Float32Array(memory.interfaceSize);
  let at = 0;
  for (const field of memory.layout) {
    const size = field.shape.reduce((a, b) => a * b, 1);
    const given = fields[field.name];
    for (let i = 0; i < size; i++) {
      values[at + i] =
        given === undefined
          ? 0
          : typeof given === 'number'
            ? given
            : (given[i % given.length] as number);
    }
    at += size;
  }
  return values;
}

describe('planted scenario through the whole memory', () => {
  for (const sparseLinks of [false, true]) {
    it(`writes three words to allocated slots, finds the first by content, then follows the links forward and back${sparseLinks ? ' (sparse links, K = 2)' : ''}`, async () => {
      const memory = createDncMemory({
        memorySlots: 8,
        memoryWidth: 6,
        readHeads: 1,
        writeHeads: 1,
        sparseLinks,
        sparseLinkK: 2,
      });
      const words = [
        [1, -1, 0, 0, 0, 0],
        [0, 0, 1, -1, 0, 0],
        [0, 0, 0, 0, 1, -1],
      ];
      const big = 30;
      // read modes: [backward, content, forward]
      const write = (v: number[]): Float32Array =>
        interfaceVector(memory, {
          writeGates: big,
          allocationGates: big,
          eraseVectors: -big,
          writeVectors: v,
          freeGates: -big,
          readModes: [0, big, 0],
        });
      const read = (modes: number[], key: number[] = words[0] as number[]): Float32Array =>
        interfaceVector(memory, {
          writeGates: -big,
          freeGates: -big,
          readKeys: key,
          readStrengths: big,
          readModes: modes,
        });
      const steps = [
        ...words.map(write),
        read([-big, big, -big]), // content: finds word 0
        read([-big, -big, big]), // forward: word 1
        read([-big, -big, big]), // forward: word 2
        read([big, -big, -big]), // backward: word 1
      ];
      const out = await onBothBackends(() => {
        let state = memory.initialState(1);
        const reads: tf.Tensor[] = [];
        for (const xi of steps) {
          const step = memory.step(tf.tensor2d(xi, [1, memory.interfaceSize]), state);
          state = step.state;
          reads.push(step.reads);
        }
        return reads;
      }, 1e-4);
      [0, 1, 2, 1].forEach((word, k) =>
        expectClose(out[3 + k] as Float32Array, words[word] as number[], 1e-3, `read ${k}`),
      );
    });
  }
});

describe('DNC-MD deallocation', () => {
  it('wipes a slot that the free gates release', async () => {
    const memory = createDncMemory({
      memorySlots: 4,
      memoryWidth: 3,
      readHeads: 1,
      writeHeads: 1,
      deallocation: true,
    });
    const [row] = await onBothBackends(() => {
      const state = memory.initialState(1);
      const filled: DncState = {
        ...state,
        memory: tf.ones([1, 4, 3]),
        readWeights: tf.tensor3d([[[0, 1, 0, 0]]]),
      };
      const xi = interfaceVector(memory, { writeGates: -30, freeGates: 30 });
      return memory.step(tf.tensor2d(xi, [1, memory.interfaceSize]), filled).state.memory;
    });
    expectClose(row as Float32Array, [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], 1e-6);
  });
});

const gradientConfigs: [string, Partial<DncMemoryConfig>][] = [
  ...configs,
  ['sparse links with K < N', { ...small, sparseLinks: true, sparseLinkK: 2 }],
];

/** A state as plain arrays, to rebuild on any backend (and inside any gradient function). */
type Frozen =
  { shape: number[]; dtype: tf.DataType; values: tf.TypedArray } | { [key: string]: Frozen };

function freeze(tree: unknown): Frozen {
  // a fused step's link as tensors: dense [B, Hw, N, N], or a SparseLink's values and columns
  if (isResidentLink(tree)) return freeze(readLink(tree));
  if (tree instanceof tf.Tensor)
    return { shape: tree.shape, dtype: tree.dtype, values: tree.dataSync().slice() };
  return Object.fromEntries(
    Object.entries(tree as Record<string, unknown>).map(([k, v]) => [k, freeze(v)]),
  );
}

function thaw<T>(frozen: Frozen): T {
  if ('values' in frozen && 'shape' in frozen) {
    const f = frozen as { shape: number[]; dtype: tf.DataType; values: tf.TypedArray };
    return tf.tensor(f.values, f.shape, f.dtype) as T;
  }
  return Object.fromEntries(Object.entries(frozen).map(([k, v]) => [k, thaw(v as Frozen)])) as T;
}

describe('gradients of a whole step', () => {
  for (const [name, config] of gradientConfigs) {
    it(`match finite differences from a used memory: ${name}`, async () => {
      const memory = createDncMemory(config);
      const batch = 2;
      const rng = rngFor(73);
      const previous = tidy(() => {
        let state = memory.initialState(batch);
        for (let t = 0; t < 2; t++) {
          const x = uniform(rng, batch * memory.interfaceSize, -2, 2);
          state = memory.step(tf.tensor2d(x, [batch, memory.interfaceSize]), state).state;
        }
        return freeze(state);
      });
      const xi = uniform(rng, batch * memory.interfaceSize, -2, 2);
      const scale = Array.from({ length: batch * memory.readSize }, (_, i) => Math.sin(3 * i + 1));
      const memoryScale = Array.from({ length: batch * 6 * 4 }, (_, i) => Math.cos(i));
      await expectGradientsOnBothBackends(
        (x, m) => {
          const state = { ...thaw<DncState>(previous), memory: m as tf.Tensor3D };
          const step = memory.step(x as tf.Tensor2D, state);
          const readTerm = tf.sum(tf.mul(step.reads, tf.tensor2d(scale, step.reads.shape)));
          return tf.add(
            readTerm,
            tf.sum(tf.mul(step.state.memory, tf.tensor3d(memoryScale, [batch, 6, 4]))),
          ) as tf.Scalar;
        },
        () => [
          tf.tensor2d(xi, [batch, memory.interfaceSize]),
          thaw<tf.Tensor3D>((previous as Record<string, Frozen>).memory as Frozen),
        ],
        { delta: 1e-3, atol: 2e-3, maxElements: 32 },
      );
    });
  }

  it('are finite from the all-zero initial state (zero memory rows and keys)', async () => {
    for (const [, config] of gradientConfigs) {
      const memory = createDncMemory(config);
      const [reads, grad] = await onBothBackends(() => {
        const xi = tf.zeros([2, memory.interfaceSize]) as tf.Tensor2D;
        const f = (x: tf.Tensor): tf.Scalar =>
          tf.sum(tf.square(memory.step(x as tf.Tensor2D, memory.initialState(2)).reads));
        return [memory.step(xi, memory.initialState(2)).reads, tf.grad(f)(xi)];
      });
      expect(Array.from(reads as Float32Array).every(Number.isFinite)).toBe(true);
      expect(Array.from(grad as Float32Array).every(Number.isFinite)).toBe(true);
    }
  });
});
