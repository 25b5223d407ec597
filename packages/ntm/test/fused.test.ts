import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchTensors,
  maskedBitsPerSequence,
  ParameterStore,
  Rng,
  selectBackend,
  Trainer,
} from '@mann/core';
import type { BackendName, MemoryNetworkState } from '@mann/core';
import { gradientCheck, maxAbsDifference, withBackend, copyBatch } from '@mann/core/testing';
import { createNtm, createNtmMemory, resolveNtmMemoryConfig } from '@mann/ntm';
import type { NtmMemoryConfig, NtmOptions, NtmState, NtmMemory } from '@mann/ntm';
import { randomDistribution, randomTensor } from './oracle.js';
import { rowPasses } from '../src/fused/memory-passes.js';
import type { MemoryPasses } from '../src/fused/memory-passes.js';
import { describeCheck, weightedSum } from './helpers.js';

// The fused implementation (one op per memory step, and one op for a whole sequence with a
// one-layer LSTM controller) against the composed reference, in values and in gradients, on
// the cpu backend (the reference) and on wasm (the default).

beforeAll(async () => {
  await selectBackend();
});

/**
 * Accepted |fused - composed|: 1e-4, scaled by the largest magnitude of the reference when that
 * exceeds 1. Both sides are float32; gradients w.r.t. an all-zero memory reach ~600 (the row
 * norms in the cosine's denominator are sqrt(eps) = 1e-3), where float32 rounding alone is
 * ~1e-4.
 */
const TOLERANCE = 1e-4;
const BACKENDS: readonly BackendName[] = ['cpu', 'wasm'];

/** Runs `fn` on every backend of {@link BACKENDS}; `fn` returns named plain arrays. */
async function onEachBackend(
  fn: (backend: BackendName) => Record<string, Float32Array>,
): Promise<void> {
  for (const backend of BACKENDS) await withBackend(backend, () => fn(backend));
}

/** Expects every entry of `fused` to be within {@link TOLERANCE} of the same entry of `composed`. */
function expectClose(
  fused: Record<string, Float32Array>,
  composed: Record<string, Float32Array>,
  where: string,
): void {
  expect(Object.keys(fused).sort()).toEqual(Object.keys(composed).sort());
  for (const [name, values] of Object.entries(composed)) {
    const difference = maxAbsDifference(fused[name] as Float32Array, values);
    const scale = Math.max(1, ...Array.from(values, Math.abs));
    expect(difference, `${where}: ${name} (largest magnitude ${scale})`).toBeLessThanOrEqual(
      TOLERANCE * scale,
    );
  }
}

const values = (x: tf.Tensor): Float32Array => x.dataSync().slice() as Float32Array;

/** Memory configs the fused step covers, small enough for the composed path on cpu. */
const STEP_CONFIGS: Record<string, Partial<NtmMemoryConfig>> = {
  // W a multiple of 4: the passes on SIMD row kernels (with one write head also the SIMD
  // erase-and-write); else JS
  'one read and one write head (paper-like, SIMD)': { memorySlots: 16, memoryWidth: 8 },
  'one read and one write head, W 5 (JS)': { memorySlots: 16, memoryWidth: 5 },
  'two read and two write heads': { memorySlots: 12, memoryWidth: 4, readHeads: 2, writeHeads: 2 },
  'three write heads, shift range 2': {
    memorySlots: 10,
    memoryWidth: 3,
    writeHeads: 3,
    shiftRange: 2,
  },
  'tanh keys, oneplus strengths': {
    memorySlots: 9,
    memoryWidth: 4,
    keyActivation: 'tanh',
    strengthActivation: 'oneplus',
  },
  'read heads only': { memorySlots: 8, memoryWidth: 3, readHeads: 2, writeHeads: 0 },
  'read heads only (SIMD)': { memorySlots: 8, memoryWidth: 4, readHeads: 2, writeHeads: 0 },
};

function makeMemory(options: Partial<NtmMemoryConfig>): {
  memory: NtmMemory;
  store: ParameterStore;
} {
  const store = new ParameterStore(new Rng(1));
  return { memory: createNtmMemory(resolveNtmMemoryConfig(options), store.scope('memory')), store };
}

/** A random interface vector and state; `zeroMemory` makes M all zeros. */
function randomStep(
  config: NtmMemoryConfig,
  interfaceSize: number,
  seed: number,
  zeroMemory = false,
): [tf.Tensor2D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  const rng = new Rng(seed);
  const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = config;
  const batch = 3;
  return [
    randomTensor<tf.Tensor2D>(rng, [batch, interfaceSize], -2, 2),
    zeroMemory ? tf.zeros([batch, n, w]) : randomTensor<tf.Tensor3D>(rng, [batch, n, w]),
    randomDistribution<tf.Tensor3D>(rng, [batch, r, n], 0.05),
    randomDistribution<tf.Tensor3D>(rng, [batch, hw, n], 0.05),
  ];
}

/** Outputs of one memory step and the gradients of a weighted sum of them w.r.t. all inputs. */
function stepResults(
  memory: NtmMemory,
  inputs: [tf.Tensor2D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D],
): Record<string, Float32Array> {
  return tf.tidy(() => {
    const step = (...x: tf.Tensor[]): { reads: tf.Tensor; state: NtmState } => {
      const [vector, m, readWeights, writeWeights] = x as typeof inputs;
      return memory.step(vector, { memory: m, readWeights, writeWeights });
    };
    const loss = (...x: tf.Tensor[]): tf.Scalar => {
      let next = 0;
      const { reads, state } = step(
        ...inputs.map((t) => (t.size > 0 ? (x[next++] as tf.Tensor) : t)),
      );
      return tf.addN([
        weightedSum(reads, 1),
        weightedSum(state.memory, 2),
        weightedSum(state.readWeights, 3),
        weightedSum(state.writeWeights, 4),
      ]);
    };
    const { reads, state } = step(...inputs);
    // w^w of no write heads is empty and gets no gradient
    const differentiable = inputs.filter((x) => x.size > 0);
    const grads = tf.grads(loss)(differentiable);
    const traced =
      memory.step(
        inputs[0],
        {
          memory: inputs[1],
          readWeights: inputs[2],
          writeWeights: inputs[3],
        },
        { trace: true },
      ).trace ?? {};
    return {
      reads: values(reads),
      memory: values(state.memory),
      readWeights: values(state.readWeights),
      writeWeights: values(state.writeWeights),
      traceReadWeights: values(traced['readWeights'] as tf.Tensor),
      traceWriteWeights: values(traced['writeWeights'] as tf.Tensor),
      ...Object.fromEntries(
        ['interfaceVector', 'memory', 'readWeights', 'writeWeights']
          .filter((_, i) => (inputs[i] as tf.Tensor).size > 0)
          .map((name, i) => [`d ${name}`, values(grads[i] as tf.Tensor)]),
      ),
    };
  });
}

describe('fused memory step', () => {
  for (const [label, options] of Object.entries(STEP_CONFIGS)) {
    it(`matches the composed step in values and gradients: ${label}`, async () => {
      const fused = makeMemory({ ...options, implementation: 'fused' });
      const composed = makeMemory({ ...options, implementation: 'composed' });
      await onEachBackend((backend) =>
        tf.tidy(() => {
          for (const [seed, zeroMemory] of [
            [1, false],
            [2, true], // all-zero memory: finite, and the same
          ] as const) {
            const inputs = randomStep(
              fused.memory.config,
              fused.memory.interfaceSize,
              seed,
              zeroMemory,
            );
            const a = stepResults(fused.memory, inputs);
            const b = stepResults(composed.memory, inputs);
            for (const array of Object.values(a)) expect(array.every(Number.isFinite)).toBe(true);
            expectClose(a, b, `${backend}, seed ${seed}`);
          }
          return {};
        }),
      );
      fused.store.dispose();
      composed.store.dispose();
    });
  }

  it('has finite-difference gradients', () => {
    const { memory, store } = makeMemory({
      memorySlots: 6,
      memoryWidth: 3,
      readHeads: 2,
      writeHeads: 2,
      implementation: 'fused',
    });
    tf.tidy(() => {
      const inputs = randomStep(memory.config, memory.interfaceSize, 7);
      const f = (...x: tf.Tensor[]): tf.Scalar => {
        const [vector, m, readWeights, writeWeights] = x as typeof inputs;
        const { reads, state } = memory.step(vector, { memory: m, readWeights, writeWeights });
        return tf.addN([
          weightedSum(reads, 1),
          weightedSum(state.memory, 2),
          weightedSum(state.readWeights, 3),
          weightedSum(state.writeWeights, 4),
        ]);
      };
      const result = gradientCheck(f, inputs, { maxElements: 40 });
      expect(result.ok, describeCheck(result)).toBe(true);
    });
    store.dispose();
  });

  it('runs composed when the addressing internals are traced', () => {
    const options = { memorySlots: 8, memoryWidth: 3 };
    const fused = makeMemory({ ...options, implementation: 'fused', traceAddressing: true });
    const composed = makeMemory({ ...options, implementation: 'composed', traceAddressing: true });
    tf.tidy(() => {
      const [vector, memory, readWeights, writeWeights] = randomStep(
        fused.memory.config,
        fused.memory.interfaceSize,
        3,
      );
      const state = { memory, readWeights, writeWeights };
      const a = fused.memory.step(vector, state, { trace: true }).trace ?? {};
      const b = composed.memory.step(vector, state, { trace: true }).trace ?? {};
      expect(Object.keys(a)).toContain('read.contentWeights');
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      // and the fused step traces just the weightings when the internals are not asked for
      const plain = fused.memory.step(vector, state, { trace: true, traceAddressing: false });
      expect(Object.keys(plain.trace ?? {}).sort()).toEqual(['readWeights', 'writeWeights']);
    });
    fused.store.dispose();
    composed.store.dispose();
  });
});

/** Model configs: the first four run the fused sequence op, the rest the fused step loop. */
const MODEL_CONFIGS: Record<string, { options: NtmOptions; sequence: boolean }> = {
  'LSTM controller, one read and one write head': {
    options: {
      inputSize: 5,
      outputSize: 4,
      controller: { hiddenSizes: [10] },
      memorySlots: 12,
      memoryWidth: 4,
    },
    sequence: true,
  },
  'two read and two write heads, shift range 2, clip 0.3, learned memory': {
    options: {
      inputSize: 5,
      outputSize: 4,
      controller: { hiddenSizes: [8] },
      memorySlots: 10,
      memoryWidth: 3,
      readHeads: 2,
      writeHeads: 2,
      shiftRange: 2,
      clipValue: 0.3,
      memoryInit: 'learned',
    },
    sequence: true,
  },
  'all-zero memory, tanh keys, oneplus strengths, uniform weightings, zero reads': {
    options: {
      inputSize: 5,
      outputSize: 4,
      controller: { hiddenSizes: [9] },
      memorySlots: 8,
      memoryWidth: 4,
      memoryInitValue: 0,
      keyActivation: 'tanh',
      strengthActivation: 'oneplus',
      initialWeighting: 'uniform',
      initialReads: 'zeros',
    },
    sequence: true,
  },
  'wide-uniform LSTM, random memory, zero weightings (as pytorch-ntm)': {
    options: {
      inputSize: 5,
      outputSize: 4,
      controller: { hiddenSizes: [10], init: 'wide-uniform' },
      memorySlots: 12,
      memoryWidth: 4,
      memoryInit: 'random',
      initialWeighting: 'zeros',
      initialReads: 'zeros',
    },
    sequence: true,
  },
  'feed-forward controller': {
    options: {
      inputSize: 5,
      outputSize: 4,
      controller: { kind: 'feedforward', hiddenSizes: [10] },
      memorySlots: 12,
      memoryWidth: 4,
    },
    sequence: false,
  },
  'two-layer LSTM controller, two read heads': {
    options: {
      inputSize: 5,
      outputSize: 4,
      controller: { hiddenSizes: [8, 6] },
      memorySlots: 10,
      memoryWidth: 3,
      readHeads: 2,
    },
    sequence: false,
  },
};

/** Outputs, traced weightings and the gradient of every trainable parameter on a copy batch. */
function modelResults(options: NtmOptions, seed: number): Record<string, Float32Array> {
  const model = createNtm(options, { seed });
  try {
    return tf.tidy(() => {
      const batch = copyBatch(new Rng(seed), 3, 4, 1, 4);
      const { inputs, targets, mask } = batchTensors(batch);
      const { outputs, traces = {} } = model.run(inputs, { trace: true });
      const untraced = model.run(inputs).outputs;
      const variables = model.parameters.trainableEntries();
      const { grads } = tf.variableGrads(
        () => maskedBitsPerSequence(model.run(inputs).outputs, targets, mask),
        variables.map(([, v]) => v),
      );
      return {
        outputs: values(outputs),
        untraced: values(untraced),
        readWeights: values(traces['readWeights'] as tf.Tensor),
        writeWeights: values(traces['writeWeights'] as tf.Tensor),
        ...Object.fromEntries(
          variables.map(([name, v]) => [`d ${name}`, values(grads[v.name] as tf.Tensor)]),
        ),
      };
    });
  } finally {
    model.dispose();
  }
}

describe('fused NTM model', () => {
  for (const [label, { options, sequence }] of Object.entries(MODEL_CONFIGS)) {
    it(`matches the composed model in outputs, traces and gradients: ${label}`, async () => {
      const probe = createNtm(options, { seed: 1 });
      expect(probe.runsWholeSequence()).toBe(sequence);
      probe.dispose();
      await onEachBackend((backend) => {
        const fused = modelResults({ ...options, implementation: 'fused' }, 11);
        const composed = modelResults({ ...options, implementation: 'composed' }, 11);
        expect(
          maxAbsDifference(
            composed['untraced'] as Float32Array,
            composed['outputs'] as Float32Array,
          ),
        ).toBe(0);
        expectClose(fused, composed, backend);
        return {};
      });
    });
  }

  it('matches the composed model from a given initial state, with its gradients', async () => {
    const options: NtmOptions = {
      inputSize: 3,
      outputSize: 2,
      controller: { hiddenSizes: [7] },
      memorySlots: 9,
      memoryWidth: 4,
      readHeads: 2,
    };
    const run = (implementation: 'fused' | 'composed'): Record<string, Float32Array> => {
      const model = createNtm({ ...options, implementation }, { seed: 3 });
      try {
        return tf.tidy(() => {
          const rng = new Rng(4);
          const x = randomTensor<tf.Tensor3D>(rng, [2, 5, 3]);
          const initial = [
            randomTensor<tf.Tensor2D>(rng, [2, 7]), // h
            randomTensor<tf.Tensor2D>(rng, [2, 7]), // c
            randomTensor<tf.Tensor3D>(rng, [2, 9, 4]), // M
            randomDistribution<tf.Tensor3D>(rng, [2, 2, 9], 0.05),
            randomDistribution<tf.Tensor3D>(rng, [2, 1, 9], 0.05),
            randomTensor<tf.Tensor2D>(rng, [2, 8]), // r_0
          ];
          const f = (...s: tf.Tensor[]): tf.Scalar => {
            const [h, c, memory, readWeights, writeWeights, reads] = s as [
              tf.Tensor2D,
              tf.Tensor2D,
              tf.Tensor3D,
              tf.Tensor3D,
              tf.Tensor3D,
              tf.Tensor2D,
            ];
            const initialState: MemoryNetworkState = {
              controller: { layers: [{ h, c }] },
              memory: { memory, readWeights, writeWeights },
              reads,
            };
            return weightedSum(model.run(x, { initialState }).outputs, 5);
          };
          const grads = tf.grads(f)(initial);
          return {
            loss: values(f(...initial)),
            ...Object.fromEntries(grads.map((g, i) => [`d initial ${i}`, values(g)])),
          };
        });
      } finally {
        model.dispose();
      }
    };
    await onEachBackend((backend) => {
      expectClose(run('fused'), run('composed'), backend);
      return {};
    });
  });

  it('names an initial state that does not fit', () => {
    const model = createNtm(
      {
        inputSize: 3,
        outputSize: 2,
        controller: { hiddenSizes: [5] },
        memorySlots: 6,
        memoryWidth: 4,
      },
      { seed: 1 },
    );
    tf.tidy(() => {
      const state = model.initialState(2) as MemoryNetworkState<unknown, NtmState>;
      const bad = { ...state, memory: { ...state.memory, memory: tf.zeros([2, 5, 4]) } };
      expect(() => model.run(tf.zeros([2, 3, 3]) as tf.Tensor3D, { initialState: bad })).toThrow(
        /initialState memory/,
      );
    });
    model.dispose();
  });

  it('leaks no tensors across training steps on the fused sequence op', () => {
    const model = createNtm(
      {
        inputSize: 5,
        outputSize: 4,
        controller: { hiddenSizes: [12] },
        memorySlots: 8,
        memoryWidth: 4,
        memoryInit: 'learned',
      },
      { seed: 21 },
    );
    expect(model.runsWholeSequence()).toBe(true);
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-3 } });
    const rng = new Rng(21);
    for (let i = 0; i < 2; i++) trainer.trainStep(copyBatch(rng, 4, 4, 1, 3)); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const result = trainer.trainStep(copyBatch(rng, 4, 4, 1, 3));
      expect(Number.isFinite(result.bitsPerSequence)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.tidy(() => {
      model.run(tf.ones([2, 3, 5]), { trace: true });
    });
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
    model.dispose();
  });
});

describe('memory passes', () => {
  /** Random arrays for a step of B batch elements. */
  function passesInputs(N: number, W: number, R: number, Hw: number, B: number, seed: number) {
    const rng = new Rng(seed);
    const H = R + Hw;
    const f32 = (size: number, low = -1, high = 1): Float32Array =>
      Float32Array.from(rng.fill(size, (r) => r.uniformIn(low, high)));
    const f64 = (size: number, low = -1, high = 1): Float64Array =>
      Float64Array.from(rng.fill(size, (r) => r.uniformIn(low, high)));
    return {
      B,
      M: f32(B * N * W),
      key: f64(B * H * W),
      keyNorm: f64(B * H, 0.5, 2),
      weights: f32(B * H * N, 0, 0.2),
      erase: f64(B * Hw * W, 0, 1),
      add: f32(B * Hw * W),
      dReads: f32(B * R * W),
      dNext: f32(B * N * W),
      dW: f64(B * H * N),
      dDot: f64(B * H * N),
      scale: f64(B * N),
      dKey: f64(B * H * W),
    };
  }

  /** Every output of every pass of `passes`. */
  function runPasses(
    passes: MemoryPasses,
    x: ReturnType<typeof passesInputs>,
    N: number,
    W: number,
    R: number,
    Hw: number,
    withNext: boolean,
  ) {
    const { B } = x;
    const H = R + Hw;
    const dNext = withNext ? x.dNext : null;
    const rowNorm = new Float64Array(B * N);
    const cosine = new Float64Array(B * H * N);
    passes.beginForward(B, x.M);
    passes.contentScores(x.key, x.keyNorm, rowNorm, cosine);
    const reads = new Float32Array(B * R * W);
    const next = new Float32Array(B * N * W);
    passes.readWrite(x.weights, x.erase, x.add, reads, next);
    const dW = x.dW.slice();
    const dErase = new Float64Array(B * Hw * W);
    const dAdd = new Float64Array(B * Hw * W);
    passes.beginBackward(B, x.M, dNext, x.dReads, x.weights, x.erase, x.add);
    passes.weightGrads(dW, dErase, dAdd);
    const dM = new Float32Array(B * N * W);
    passes.memoryGrads(x.key, x.dDot, x.scale, dM);
    const dKey = x.dKey.slice();
    passes.columnGrads(x.dDot, dKey, dErase, dAdd);
    return { rowNorm, cosine, reads, next, dW, dM, dKey, dErase, dAdd };
  }

  it('agree on SIMD and on JS row kernels, batch after batch of changing size', () => {
    const cases: [number, number, number, number][] = [
      [12, 8, 1, 1],
      [10, 4, 2, 1],
      [8, 8, 1, 2], // two write heads: SIMD row kernels, the JS erase-and-write
      [6, 12, 2, 0],
    ];
    for (const [N, W, R, Hw] of cases) {
      const simd = rowPasses(N, W, R, Hw);
      expect(simd.kind, 'WebAssembly SIMD is available in Node 20').toBe('simd');
      const js = rowPasses(N, W, R, Hw, false);
      expect(js.kind).toBe('js');
      for (const [B, withNext] of [
        [3, true],
        [3, false],
        [2, true],
      ] as const) {
        const x = passesInputs(N, W, R, Hw, B, N + W + B);
        const a = runPasses(simd, x, N, W, R, Hw, withNext);
        const b = runPasses(js, x, N, W, R, Hw, withNext);
        for (const [name, values] of Object.entries(b)) {
          const difference = maxAbsDifference(a[name as keyof typeof a], values);
          expect(
            difference,
            `N ${N} W ${W} R ${R} Hw ${Hw} B ${B} next ${withNext}: ${name}`,
          ).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('run on JS row kernels where W is not a multiple of 4', () => {
    expect(rowPasses(8, 6, 1, 1).kind).toBe('js');
  });
});

describe('fused sequence op', () => {
  it('matches the composed model over sequences of changing length (reused buffers)', async () => {
    const options: NtmOptions = {
      inputSize: 5,
      outputSize: 4,
      controller: { hiddenSizes: [6] },
      memorySlots: 8,
      memoryWidth: 4,
    };
    const run = (implementation: 'fused' | 'composed'): Record<string, Float32Array> => {
      const model = createNtm({ ...options, implementation }, { seed: 8 });
      const results: Record<string, Float32Array> = {};
      try {
        for (const [k, maxLength] of [4, 2, 3, 4].entries()) {
          tf.tidy(() => {
            const batch = copyBatch(new Rng(k), 2, 4, 1, maxLength);
            const { inputs, targets, mask } = batchTensors(batch);
            const variables = model.parameters.trainableEntries();
            const { value, grads } = tf.variableGrads(
              () => maskedBitsPerSequence(model.run(inputs).outputs, targets, mask),
              variables.map(([, v]) => v),
            );
            results[`loss ${k}`] = values(value);
            for (const [name, v] of variables)
              results[`d ${name} ${k}`] = values(grads[v.name] as tf.Tensor);
          });
        }
      } finally {
        model.dispose();
      }
      return results;
    };
    await onEachBackend((backend) => {
      expectClose(run('fused'), run('composed'), backend);
      return {};
    });
  });
});
