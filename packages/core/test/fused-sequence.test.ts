// Core's whole-sequence driver (`fusedSequence`, the `SequenceHook` of a MemoryNetwork) around a
// toy memory on typed arrays, against MemoryNetwork.run's step loop with the same memory written
// as TF.js ops: outputs and the gradients of every parameter, the inputs and the initial state,
// on cpu and wasm; no tensors leaked across training steps.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchTensors,
  LstmController,
  MemoryNetwork,
  ParameterStore,
  Rng,
  selectBackend,
  Trainer,
  type MemoryAccess,
  type MemoryNetworkState,
} from '@mann/core';
import { fusedSequenceHook, type ParameterArrays, type SequenceMemory } from '@mann/core/fused';
import {
  copyBatch,
  flatParameters,
  maxAbsDifference,
  onCpuAndWasm,
  tfjsLossAndGradients,
  withBackend,
} from '@mann/core/testing';

beforeAll(async () => {
  await selectBackend();
});

const TOLERANCE = 1e-4;
const [INPUT, OUTPUT, HIDDEN, READ] = [4, 3, 6, 5];
const DECAY = 0.7;

/** A leaky accumulator: m_t = d m_{t-1} + tanh(a_t) sigmoid(g_t), r_t = m_t, xi_t = [a_t ; g_t]. */
interface ToyState {
  readonly m: tf.Tensor2D;
}

/** The toy memory as TF.js ops: the reference. */
const composedMemory: MemoryAccess<ToyState> = {
  interfaceSize: 2 * READ,
  readSize: READ,
  initialState: (batch) => ({ m: tf.zeros([batch, READ]) }),
  initialReads: (batch) => tf.zeros([batch, READ]),
  step(xi, state) {
    const [a, g] = tf.split(xi, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    const m = tf.add(tf.mul(state.m, DECAY), tf.mul(tf.tanh(a), tf.sigmoid(g))) as tf.Tensor2D;
    return { reads: m, state: { m } };
  },
};

/** The same memory on typed arrays, for the driver. */
const toyMemory: SequenceMemory = {
  interfaceSize: 2 * READ,
  readSize: READ,
  stateInputs: (state) => ({ m: (state as ToyState).m }),
  begin(_state, read, batch, steps) {
    const ms = [read.floats('m').slice()]; // m_0 .. m_T
    const xis: Float32Array[] = [];
    let dm = new Float32Array(batch * READ); // dL/dm_t from step t + 1
    return {
      forward(t, xi) {
        xis[t] = xi;
        const prev = ms[t] as Float32Array;
        const m = new Float32Array(batch * READ);
        for (let b = 0; b < batch; b++) {
          for (let j = 0; j < READ; j++) {
            const a = Math.tanh(xi[b * 2 * READ + j] as number);
            const g = 1 / (1 + Math.exp(-(xi[b * 2 * READ + READ + j] as number)));
            m[b * READ + j] = DECAY * (prev[b * READ + j] as number) + a * g;
          }
        }
        ms[t + 1] = m;
        return m;
      },
      backward(t, dReads) {
        expect(t).toBeLessThan(steps);
        const xi = xis[t] as Float32Array;
        const dxi = new Float32Array(batch * 2 * READ);
        for (let b = 0; b < batch; b++) {
          for (let j = 0; j < READ; j++) {
            const at = b * READ + j;
            const d = (dReads[at] as number) + (dm[at] as number);
            const a = Math.tanh(xi[b * 2 * READ + j] as number);
            const g = 1 / (1 + Math.exp(-(xi[b * 2 * READ + READ + j] as number)));
            dxi[b * 2 * READ + j] = d * g * (1 - a * a);
            dxi[b * 2 * READ + READ + j] = d * a * g * (1 - g);
            dm[at] = DECAY * d;
          }
        }
        return dxi;
      },
      initialGradients: () => ({ m: dm.slice() }),
      release() {
        ms.length = 0;
        dm = new Float32Array(0);
      },
    };
  },
};

/** A network of the toy memory, with the driver's hook or without; same parameters per seed. */
function network(fused: boolean, clipValue: number, seed = 3): MemoryNetwork {
  const parameters = new ParameterStore(new Rng(seed));
  const controller = new LstmController(parameters.scope('controller'), INPUT + READ, [HIDDEN]);
  return new MemoryNetwork({
    config: { type: 'toy', inputSize: INPUT, outputSize: OUTPUT },
    parameters,
    controller,
    memory: composedMemory,
    clipValue,
    ...(fused ? { sequence: fusedSequenceHook(toyMemory) } : {}),
  });
}

/** Outputs, and the gradients of every parameter, the inputs and the initial state. */
function results(model: MemoryNetwork, initial: boolean): tf.Tensor[] {
  const rng = new Rng(9);
  const random = (shape: number[]): tf.Tensor =>
    tf.tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.uniformIn(-1, 1)),
      shape,
    );
  const [B, T] = [3, 5];
  const x = random([B, T, INPUT]) as tf.Tensor3D;
  const state = [random([B, HIDDEN]), random([B, HIDDEN]), random([B, READ]), random([B, READ])];
  const weights = random([B, T, OUTPUT]);
  const loss = (x: tf.Tensor3D, h: tf.Tensor, c: tf.Tensor, r: tf.Tensor, m: tf.Tensor) => {
    const initialState: MemoryNetworkState = {
      controller: { layers: [{ h, c }] },
      memory: { m },
      reads: r as tf.Tensor2D,
    };
    const { outputs } = model.run(x, initial ? { initialState } : {});
    return tf.sum(tf.mul(tf.tanh(outputs), weights)) as tf.Scalar;
  };
  const variables = model.parameters.trainableEntries().map(([, v]) => v);
  const [h, c, r, m] = state as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const { value, grads } = tf.variableGrads(() => loss(x, h, c, r, m), variables);
  const inputGrads = initial
    ? tf.grads((x, h, c, r, m) => loss(x as tf.Tensor3D, h, c, r, m))([x, ...state])
    : [tf.grad((x) => loss(x as tf.Tensor3D, h, c, r, m))(x)];
  return [
    value,
    model.run(x).outputs,
    ...variables.map((v) => grads[v.name] as tf.Tensor),
    ...inputGrads,
  ];
}

describe('fused whole-sequence driver', () => {
  for (const [label, clip, initial] of [
    ['default initial state, no clip', 0, false],
    ['a given initial state, clip 0.4', 0.4, true],
  ] as const) {
    it(`matches the step loop in outputs and every gradient: ${label}`, async () => {
      const [fused, composed] = [network(true, clip), network(false, clip)];
      expect(fused.runsWholeSequence()).toBe(true);
      expect(fused.runsWholeSequence({ trace: true })).toBe(false);
      expect(composed.runsWholeSequence()).toBe(false);
      try {
        const a = await onCpuAndWasm(() => results(fused, initial));
        const b = await onCpuAndWasm(() => results(composed, initial));
        for (const backend of ['cpu', 'wasm'] as const) {
          expect(a[backend].length).toBe(b[backend].length);
          a[backend].forEach((values, i) => {
            const expected = b[backend][i] as Float32Array;
            expect(maxAbsDifference(values, expected), `${backend} #${i}`).toBeLessThan(TOLERANCE);
          });
        }
      } finally {
        fused.dispose();
        composed.dispose();
      }
    });
  }

  it('names an initial state that does not fit', () => {
    const model = network(true, 0);
    tf.tidy(() => {
      const state = model.initialState(2);
      const bad = { ...state, reads: tf.zeros([2, READ + 1]) as tf.Tensor2D };
      expect(() => model.run(tf.zeros([2, 3, INPUT]), { initialState: bad })).toThrow(
        /initialState reads/,
      );
      expect(() => model.run(tf.zeros([2, 0, INPUT]))).toThrow(/T = 0/);
    });
    model.dispose();
  });

  it('leaks no tensors across training steps and inference runs', () => {
    const model = network(true, 20, 5);
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-3 } });
    const rng = new Rng(21);
    const batch = () => copyBatch(rng, 4, OUTPUT, 1, 3); // inputs OUTPUT + 1 = INPUT wide
    for (let i = 0; i < 2; i++) trainer.trainStep(batch()); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      expect(Number.isFinite(trainer.trainStep(batch()).bitsPerSequence)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.tidy(() => {
      model.run(tf.ones([2, 3, INPUT]));
    });
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
    model.dispose();
  });
});

// Training on arrays (`lossAndGradientsOnArrays`, the training threads' path): the toy memory
// with a learned initial state, m_0 = tanh(p) for every sequence, and its initial state on
// arrays; against TF.js's gradients of the same loss through the step loop.

/** The toy network with m_0 = tanh(p), p a parameter; `arrays`: the initial state on arrays. */
function learnedNetwork(arrays: boolean, seed = 4): { model: MemoryNetwork; p: tf.Variable } {
  const parameters = new ParameterStore(new Rng(seed));
  const controller = new LstmController(parameters.scope('controller'), INPUT + READ, [HIDDEN]);
  const p = parameters.scope('memory').create('m0', [READ], { kind: 'uniform', low: -1, high: 1 });
  // a parameter the loss does not reach: its gradient is zero
  parameters.scope('memory').create('unused', [2], { kind: 'uniform', low: -1, high: 1 });
  const composed: MemoryAccess<ToyState> = {
    ...composedMemory,
    initialState: (batch) => ({
      m: tf.tidy(() => tf.tile(tf.reshape(tf.tanh(p), [1, READ]), [batch, 1]) as tf.Tensor2D),
    }),
  };
  const memory: SequenceMemory = {
    ...toyMemory,
    ...(arrays
      ? {
          initialArrays(batch: number, values: ParameterArrays) {
            const m0 = values.value(p).map(Math.tanh);
            const m = new Float32Array(batch * READ);
            for (let b = 0; b < batch; b++) m.set(m0, b * READ);
            return {
              state: undefined,
              values: { m, reads0: new Float32Array(batch * READ) },
              backward(gradients: Readonly<Record<string, Float32Array>>, into: ParameterArrays) {
                // in two parts (the first sequence, then the others): the parts add up
                const dm = gradients.m as Float32Array;
                for (const [from, to] of [
                  [0, 1],
                  [1, batch],
                ] as const) {
                  const dp = new Float32Array(READ);
                  for (let b = from; b < to; b++) {
                    for (let j = 0; j < READ; j++) {
                      const t = m0[j] as number;
                      dp[j] = (dp[j] as number) + (dm[b * READ + j] as number) * (1 - t * t);
                    }
                  }
                  into.addGradient(p, dp);
                }
              },
            };
          },
        }
      : {}),
  };
  const model = new MemoryNetwork({
    config: { type: 'toy', inputSize: INPUT, outputSize: OUTPUT },
    parameters,
    controller,
    memory: composed,
    clipValue: 0.8,
    sequence: fusedSequenceHook(memory),
  });
  return { model, p };
}

/** Where a trainable parameter's gradient is in the flat gradient, and its size. */
function offsetOf(model: MemoryNetwork, name: string): [number, number] {
  let offset = 0;
  for (const [n, v] of model.parameters.trainableEntries()) {
    if (n === name) return [offset, v.size];
    offset += v.size;
  }
  throw new Error(`no trainable parameter ${name}`);
}

describe('fused whole-sequence driver on arrays', () => {
  const batch = copyBatch(new Rng(31), 3, OUTPUT, 2, 4); // inputs OUTPUT + 1 = INPUT wide

  for (const outputClip of [0, 0.1]) {
    it(`gives TF.js's loss and gradients, the initial state's parameter too (output clip ${outputClip})`, async () => {
      const { model } = learnedNetwork(true);
      try {
        for (const backend of ['cpu', 'wasm'] as const) {
          await withBackend(backend, () => {
            const gradient = new Float32Array(model.parameters.count()).fill(Number.NaN);
            const before = tf.memory().numTensors;
            const loss = model.lossAndGradientsOnArrays(
              batch,
              flatParameters(model),
              gradient,
              outputClip,
            );
            expect(tf.memory().numTensors).toBe(before);
            // the step loop (traced), through the clip
            const expected = tfjsLossAndGradients(model, batch, {
              runOptions: { trace: true },
              outputs: (y) =>
                outputClip > 0 ? (tf.clipByValue(y, -outputClip, outputClip) as tf.Tensor3D) : y,
            });
            expect(loss, backend).toBeCloseTo(expected.loss, 4);
            const scale = Math.max(...expected.gradient.map(Math.abs));
            const difference = maxAbsDifference(gradient, expected.gradient) / scale;
            expect(difference, backend).toBeLessThan(1e-5);
            // the initial state's parameter gets its gradient
            const [offset, size] = offsetOf(model, 'memory/m0');
            const dp = gradient.subarray(offset, offset + size);
            expect(
              maxAbsDifference(dp, expected.gradient.subarray(offset, offset + size)),
            ).toBeLessThan(1e-5 * scale);
            expect(dp.some((g) => g !== 0)).toBe(true);
            const [unused] = offsetOf(model, 'memory/unused');
            expect([...gradient.subarray(unused, unused + 2)]).toEqual([0, 0]);
            if (outputClip > 0) {
              // the clip must bite where the loss looks, for the test to mean anything
              const logits = tf.tidy(
                () => model.run(batchTensors(batch).inputs).outputs.dataSync() as Float32Array,
              );
              const bites = logits.some(
                (z, i) => Math.abs(z) > outputClip && batch.mask[Math.floor(i / OUTPUT)] !== 0,
              );
              expect(bites).toBe(true);
            }
          });
        }
      } finally {
        model.dispose();
      }
    });
  }

  it("is undefined, writing nothing, without the memory's initial state on arrays", () => {
    const { model } = learnedNetwork(false);
    const gradient = new Float32Array(model.parameters.count()).fill(7);
    expect(model.lossAndGradientsOnArrays(batch, flatParameters(model), gradient)).toBeUndefined();
    expect(gradient.every((g) => g === 7)).toBe(true);
    model.dispose();
  });

  it('names arrays of the wrong size and a batch that does not fit', () => {
    const { model } = learnedNetwork(true);
    const parameters = flatParameters(model);
    const gradient = new Float32Array(model.parameters.count());
    expect(() => model.lossAndGradientsOnArrays(batch, parameters.subarray(1), gradient)).toThrow(
      new RegExp(
        `parameters and gradients must have ${parameters.length} and ${gradient.length} values.*got ${parameters.length - 1}`,
      ),
    );
    const wide = copyBatch(new Rng(1), 2, OUTPUT + 1, 1, 2);
    expect(() => model.lossAndGradientsOnArrays(wide, parameters, gradient)).toThrow(
      /inputWidth 5 and outputWidth 4; the model takes 4 and gives 3/,
    );
    model.dispose();
  });
});
