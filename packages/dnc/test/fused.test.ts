import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, MannError, Rng, selectBackend, tidy, Trainer } from '@mann/core';
import { tensorsLeaked, withBackend, copyBatch } from '@mann/core/testing';
import type { DncModel, DncMemory } from '@mann/dnc';
import {
  createDncMemory,
  isResidentLink,
  readLink,
  resolveDncConfig,
  sparseLinkToDense,
  type DncMemoryConfig,
  type DncState,
  type SparseLink,
  type TemporalLink,
} from '@mann/dnc';
import { jsLinkKernels, simdLinkKernels } from '../src/fused/link-kernels.js';
import type { FusedMemoryStep } from '../src/fused/step-op.js';
import { linkRecord } from '../src/fused/resident-link.js';
import { createProducts, jsRowKernels, rowKernelsFor } from '@mann/core/fused';
import {
  expectClose,
  expectGradientsOnBothBackends,
  rngFor,
  uniform,
  weightings,
} from './helpers.js';

// The fused implementation (one kernel per memory step, or one op per sequence in
// `DncModel.run`) against the composed reference: values, traces and gradients to 1e-4 on
// both backends, for every option; finite differences; the SIMD kernels against their JS
// reference loops; no tensor leaks.

beforeAll(async () => {
  await selectBackend();
});

const TOLERANCE = 1e-4;
const BACKENDS = ['cpu', 'wasm'] as const;

type MemoryOptions = Partial<DncMemoryConfig>;

/** Every option the fused step covers, at sizes small enough for the cpu backend. */
const CONFIGS: [string, MemoryOptions][] = [
  [
    'default-like: N 12, W 8, R 4, one write head',
    { memorySlots: 12, memoryWidth: 8, readHeads: 4 },
  ],
  ['two write heads', { memorySlots: 8, memoryWidth: 4, readHeads: 2, writeHeads: 2 }],
  ['DNC-MD masking', { memorySlots: 8, memoryWidth: 4, readHeads: 2, masking: true }],
  ['DNC-MD deallocation', { memorySlots: 8, memoryWidth: 4, readHeads: 2, deallocation: true }],
  ['DNC-MD link sharpness', { memorySlots: 8, memoryWidth: 4, readHeads: 2, linkSharpness: true }],
  [
    'all DNC-MD options, two write heads',
    {
      memorySlots: 8,
      memoryWidth: 4,
      readHeads: 2,
      writeHeads: 2,
      masking: true,
      deallocation: true,
      linkSharpness: true,
    },
  ],
  [
    'sparse links, K < N',
    { memorySlots: 10, memoryWidth: 4, readHeads: 2, sparseLinks: true, sparseLinkK: 3 },
  ],
  [
    'sparse links, K >= N, two write heads, deallocation',
    {
      memorySlots: 6,
      memoryWidth: 4,
      readHeads: 2,
      writeHeads: 2,
      sparseLinks: true,
      sparseLinkK: 8,
      deallocation: true,
    },
  ],
  // N and W not multiples of 4: the JS loops instead of the SIMD kernels
  ['N 7, W 5, R 3 (JS kernels)', { memorySlots: 7, memoryWidth: 5, readHeads: 3 }],
  [
    'DNC-MD masking, N 7, W 5 (JS kernels)',
    { memorySlots: 7, memoryWidth: 5, readHeads: 2, masking: true },
  ],
];

function memories(options: MemoryOptions): { fused: DncMemory; composed: DncMemory } {
  return {
    fused: createDncMemory({ ...options, implementation: 'fused' }),
    composed: createDncMemory({ ...options, implementation: 'composed' }),
  };
}

/** A link of any kind as a dense [B, Hw, N, N] tensor (differentiable). */
function denseLink(link: TemporalLink): tf.Tensor {
  const read = readLink(link);
  return read instanceof tf.Tensor ? read : sparseLinkToDense(read);
}

/** A used-looking random state, as plain arrays (made into tensors on each backend). */
interface StartValues {
  readonly memory: Float32Array;
  readonly usage: Float32Array;
  readonly link: Float32Array;
  readonly columns: Int32Array | null;
  readonly precedence: Float32Array;
  readonly readWeights: Float32Array;
  readonly writeWeights: Float32Array;
}

function startValues(seed: number, memory: DncMemory, batch: number): StartValues {
  const rng = rngFor(seed);
  const {
    memorySlots: n,
    memoryWidth: w,
    readHeads: r,
    writeHeads: h,
    sparseLinks,
  } = memory.config;
  const capacity = memory.sparseCapacity;
  const rows = batch * h * n;
  let link: Float32Array;
  let columns: Int32Array | null = null;
  if (sparseLinks) {
    columns = new Int32Array(rows * capacity);
    link = new Float32Array(rows * capacity);
    for (let row = 0; row < rows; row++) {
      const i = row % n;
      for (let k = 0; k < capacity; k++) {
        const column = (i + 1 + k) % n;
        columns[row * capacity + k] = column;
        link[row * capacity + k] = column === i ? 0 : rng.uniformIn(0, 1 / capacity);
      }
    }
  } else {
    link = uniform(rng, rows * n, 0, 1 / n);
    for (let row = 0; row < rows; row++) link[row * n + (row % n)] = 0;
  }
  return {
    memory: uniform(rng, batch * n * w, -1, 1),
    usage: uniform(rng, batch * n, 0.05, 0.95),
    link,
    columns,
    precedence: weightings(rng, batch * h, n),
    readWeights: weightings(rng, batch * r, n),
    writeWeights: weightings(rng, batch * h, n),
  };
}

/** The start state's tensors, in the order gradients are taken (link values 3rd). */
function startTensors(values: StartValues, memory: DncMemory, batch: number): tf.Tensor[] {
  const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: h } = memory.config;
  const k = memory.config.sparseLinks ? memory.sparseCapacity : n;
  return [
    tf.tensor3d(values.memory, [batch, n, w]),
    tf.tensor2d(values.usage, [batch, n]),
    tf.tensor4d(values.link, [batch, h, n, k]),
    tf.tensor3d(values.precedence, [batch, h, n]),
    tf.tensor3d(values.readWeights, [batch, r, n]),
    tf.tensor3d(values.writeWeights, [batch, h, n]),
  ];
}

function stateOf(tensors: tf.Tensor[], columns: tf.Tensor | null): DncState {
  const [memory, usage, link, precedence, readWeights, writeWeights] = tensors as [
    tf.Tensor3D,
    tf.Tensor2D,
    tf.Tensor4D,
    tf.Tensor3D,
    tf.Tensor3D,
    tf.Tensor3D,
  ];
  return {
    memory,
    usage,
    link: columns ? { values: link, columns: columns as tf.Tensor4D } : link,
    precedence,
    readWeights,
    writeWeights,
  };
}

/** A fixed pseudo-random weighting of a tensor's entries, so that every output matters. */
function weighted(x: tf.Tensor, salt: number): tf.Scalar {
  const coefficients = Float32Array.from({ length: x.size }, (_, i) => Math.sin(0.7 * i + salt));
  return tf.sum(tf.mul(x, tf.tensor(coefficients, x.shape))) as tf.Scalar;
}

/**
 * Two steps of `memory` from the start state: every output of both steps (the second reads
 * the first's link), the first step's traces, one loss over all of them, and the gradient of
 * that loss with respect to both interface vectors and every start tensor.
 */
function twoSteps(
  memory: DncMemory,
  values: StartValues,
  xiValues: Float32Array[],
  batch: number,
): Float32Array[] {
  return tidy(() => {
    const columns = values.columns
      ? tf.tensor4d(
          values.columns,
          [batch, memory.config.writeHeads, memory.config.memorySlots, memory.sparseCapacity],
          'int32',
        )
      : null;
    const xs = xiValues.map((x) => tf.tensor2d(x, [batch, memory.interfaceSize]));
    const outputs = (...inputs: tf.Tensor[]): tf.Tensor[] => {
      const [x1, x2, ...start] = inputs as [tf.Tensor2D, tf.Tensor2D, ...tf.Tensor[]];
      const first = memory.step(x1, stateOf(start, columns), { trace: true });
      const second = memory.step(x2, first.state);
      const trace = first.trace as Record<string, tf.Tensor>;
      return [
        first.reads,
        second.reads,
        ...[first.state, second.state].flatMap((s) => [
          s.memory,
          s.usage,
          denseLink(s.link),
          s.precedence,
          s.readWeights,
          s.writeWeights,
        ]),
        ...['allocation', 'freeGates', 'allocationGate', 'writeGate', 'readModes'].map(
          (key) => trace[key] as tf.Tensor,
        ),
      ];
    };
    const inputs = [...xs, ...startTensors(values, memory, batch)];
    const loss = (...x: tf.Tensor[]): tf.Scalar =>
      tf.addN(outputs(...x).map((o, i) => weighted(o, i))) as tf.Scalar;
    const grads = tf.grads(loss)(inputs);
    return [...outputs(...inputs), ...grads].map((t) => t.dataSync().slice() as Float32Array);
  });
}

describe('fused memory step against the composed reference', () => {
  for (const [name, options] of CONFIGS) {
    it(`values, traces and gradients of every input match: ${name}`, async () => {
      const batch = 2;
      const { fused, composed } = memories(options);
      const values = startValues(11, fused, batch);
      const rng = rngFor(12);
      const xi = [0, 1].map(() => uniform(rng, batch * fused.interfaceSize, -2, 2));
      for (const backend of BACKENDS) {
        await withBackend(backend, () => {
          const expected = twoSteps(composed, values, xi, batch);
          const actual = twoSteps(fused, values, xi, batch);
          expect(actual.length).toBe(expected.length);
          actual.forEach((a, i) =>
            expectClose(a, expected[i] as Float32Array, TOLERANCE, `${backend} #${i}`),
          );
        });
      }
    });
  }

  it('matches from the all-zero initial state (exact ties in the usage), with finite gradients', async () => {
    for (const [, options] of [CONFIGS[0], CONFIGS[5], CONFIGS[6]] as [string, MemoryOptions][]) {
      const { fused, composed } = memories(options);
      for (const backend of BACKENDS) {
        await withBackend(backend, () => {
          const run = (memory: DncMemory): Float32Array[] =>
            tidy(() => {
              const xi = tf.tensor2d(uniform(rngFor(3), 2 * memory.interfaceSize, -1, 1), [
                2,
                memory.interfaceSize,
              ]);
              const f = (x: tf.Tensor): tf.Scalar => {
                const first = memory.step(x as tf.Tensor2D, memory.initialState(2));
                const second = memory.step(tf.mul(x, -0.5) as tf.Tensor2D, first.state);
                return tf.add(
                  weighted(second.reads, 1),
                  weighted(second.state.memory, 2),
                ) as tf.Scalar;
              };
              const { value, grad } = tf.valueAndGrad(f)(xi);
              return [value, grad].map((t) => t.dataSync().slice() as Float32Array);
            });
          const [fusedValue, fusedGrad] = run(fused) as [Float32Array, Float32Array];
          const [value, grad] = run(composed) as [Float32Array, Float32Array];
          expect(Array.from(fusedGrad).every(Number.isFinite)).toBe(true);
          expectClose(fusedValue, value, TOLERANCE, `${backend} loss`);
          expectClose(fusedGrad, grad, TOLERANCE, `${backend} gradient`);
        });
      }
    }
  });
});

describe('fused memory step: finite differences', () => {
  for (const [name, options] of [CONFIGS[0], CONFIGS[5], CONFIGS[6]] as [string, MemoryOptions][]) {
    it(`matches finite differences on cpu and wasm: ${name}`, async () => {
      const memory = createDncMemory({ ...options, implementation: 'fused' });
      const batch = 2;
      const values = startValues(21, memory, batch);
      const xi = uniform(rngFor(22), batch * memory.interfaceSize, -2, 2);
      const columns = (): tf.Tensor | null =>
        values.columns
          ? tf.tensor4d(
              values.columns,
              [batch, memory.config.writeHeads, memory.config.memorySlots, memory.sparseCapacity],
              'int32',
            )
          : null;
      await expectGradientsOnBothBackends(
        (x, m, link, precedence, reads) => {
          const [, usage, , , , writes] = startTensors(values, memory, batch);
          const state = stateOf(
            [
              m as tf.Tensor,
              usage as tf.Tensor,
              link as tf.Tensor,
              precedence as tf.Tensor,
              reads as tf.Tensor,
              writes as tf.Tensor,
            ],
            columns(),
          );
          const step = memory.step(x as tf.Tensor2D, state);
          return tf.addN([
            weighted(step.reads, 1),
            weighted(step.state.memory, 2),
            weighted(denseLink(step.state.link), 3),
            weighted(step.state.readWeights, 4),
          ]) as tf.Scalar;
        },
        () => {
          const [m, , link, precedence, reads] = startTensors(values, memory, batch);
          return [
            tf.tensor2d(xi, [batch, memory.interfaceSize]),
            m,
            link,
            precedence,
            reads,
          ] as tf.Tensor[];
        },
        { delta: 1e-3, atol: 2e-3, maxElements: 24 },
      );
    });
  }
});

const MODEL_CONFIGS: [string, Record<string, unknown>][] = [
  [
    'LSTM controller, N 12, W 8, R 4 (whole-sequence op)',
    { memorySlots: 12, memoryWidth: 8, readHeads: 4 },
  ],
  [
    'LSTM, two write heads and every DNC-MD option',
    {
      memorySlots: 8,
      memoryWidth: 4,
      readHeads: 2,
      writeHeads: 2,
      masking: true,
      deallocation: true,
      linkSharpness: true,
    },
  ],
  [
    'LSTM, sparse links K < N',
    { memorySlots: 10, memoryWidth: 4, readHeads: 2, sparseLinks: true, sparseLinkK: 3 },
  ],
  ['LSTM, N 7, W 5 (JS kernels)', { memorySlots: 7, memoryWidth: 5, readHeads: 2 }],
  [
    'feed-forward controller (fused step by step)',
    {
      memorySlots: 8,
      memoryWidth: 4,
      readHeads: 2,
      controller: { kind: 'feedforward', hiddenSizes: [12] },
    },
  ],
];

/** Trace keys indexed by memory slot (last axis N). */
const SLOT_TRACES = new Set(['allocation', 'readWeights', 'usage', 'writeWeights']);

/**
 * Each row of the last axis sorted: from the all-zero state several slots have usages equal to
 * float32 precision, and the fused step (double precision inside) may allocate them in another
 * order than the composed float32 ops. Outputs and gradients do not depend on that order.
 */
function sortedRows(t: tf.Tensor): tf.Tensor {
  const n = t.shape[t.rank - 1] as number;
  const values = t.dataSync().slice();
  for (let at = 0; at < values.length; at += n) values.subarray(at, at + n).sort();
  return tf.tensor(values, t.shape);
}

/**
 * Loss, outputs, traces (slot-indexed ones with sorted rows) and the gradient of the loss for
 * every parameter of a run.
 */
function modelRun(
  model: DncModel,
  data: ReturnType<typeof copyBatch>,
  trace: boolean,
): Float32Array[] {
  return tidy(() => {
    const inputs = tf.tensor3d(data.inputs, [data.batchSize, data.steps, data.inputWidth]);
    const variables = Object.fromEntries(model.parameters.trainableEntries());
    const names = Object.keys(variables).sort();
    const { value, grads } = tf.variableGrads(
      () => weighted(tf.sigmoid(model.run(inputs, { trace }).outputs), 5),
      names.map((n) => variables[n] as tf.Variable),
    );
    const run = model.run(inputs, { trace });
    const traces = Object.entries(run.traces ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, t]) => (SLOT_TRACES.has(key) ? sortedRows(t) : t));
    return [
      value,
      run.outputs,
      ...traces,
      ...names.map((n) => grads[(variables[n] as tf.Variable).name] as tf.Tensor),
    ].map((t) => t.dataSync().slice() as Float32Array);
  });
}

describe('fused model against the composed model', () => {
  for (const [name, options] of MODEL_CONFIGS) {
    it(`outputs, traces and every parameter gradient match: ${name}`, async () => {
      const data = copyBatch(new Rng(4), 3, 4, 2, 4);
      const make = (implementation: string): DncModel =>
        createModel(
          {
            type: 'dnc',
            inputSize: 5,
            outputSize: 4,
            controller: { hiddenSizes: [10] },
            ...options,
            implementation,
          },
          { seed: 7 },
        ) as DncModel;
      for (const backend of BACKENDS) {
        await withBackend(backend, () => {
          const [fused, composed] = [make('fused'), make('composed')];
          try {
            if ((options.controller as { kind?: string } | undefined)?.kind !== 'feedforward') {
              expect(fused.network.runsWholeSequence()).toBe(true);
            }
            // run without traces: the whole-sequence op; with traces: the fused step by step
            for (const trace of [false, true]) {
              const expected = modelRun(composed, data, trace);
              const actual = modelRun(fused, data, trace);
              expect(actual.length).toBe(expected.length);
              actual.forEach((a, i) =>
                expectClose(
                  a,
                  expected[i] as Float32Array,
                  TOLERANCE,
                  `${backend} trace ${trace} #${i}`,
                ),
              );
            }
          } finally {
            fused.dispose();
            composed.dispose();
          }
        });
      }
    });
  }

  it('the whole-sequence op starts from a given state (tensor link) like the composed model', async () => {
    const options = { memorySlots: 8, memoryWidth: 4, readHeads: 2 };
    const data = copyBatch(new Rng(5), 2, 4, 2, 3);
    for (const backend of BACKENDS) {
      await withBackend(backend, () => {
        const results = (['fused', 'composed'] as const).map((implementation) => {
          const model = createModel(
            {
              type: 'dnc',
              inputSize: 5,
              outputSize: 4,
              controller: { hiddenSizes: [6] },
              ...options,
              implementation,
            },
            { seed: 3 },
          ) as DncModel;
          try {
            return tidy(() => {
              const memory = createDncMemory({ ...options, implementation: 'composed' });
              const values = startValues(31, memory, 2);
              const zero = model.initialState(2);
              const start = { ...zero, memory: stateOf(startTensors(values, memory, 2), null) };
              const inputs = tf.tensor3d(data.inputs, [2, data.steps, 5]);
              const variables = [...model.parameters.trainableEntries()].map(([, v]) => v);
              const { value, grads } = tf.variableGrads(
                () => weighted(model.run(inputs, { initialState: start }).outputs, 9),
                variables,
              );
              return [value, ...variables.map((v) => grads[v.name] as tf.Tensor)].map(
                (t) => t.dataSync().slice() as Float32Array,
              );
            });
          } finally {
            model.dispose();
          }
        });
        const [fused, composed] = results as [Float32Array[], Float32Array[]];
        fused.forEach((a, i) =>
          expectClose(a, composed[i] as Float32Array, TOLERANCE, `${backend} #${i}`),
        );
      });
    }
  });
});

describe('SIMD kernels against their JS loops', () => {
  const rng = rngFor(41);

  it('dense link update and its gradient', () => {
    const simd = simdLinkKernels();
    expect(simd?.kind).toBe('simd'); // Node 20 has WebAssembly SIMD
    if (!simd) return;
    // n = 4: the block holding the diagonal is the whole row; 128 x 4: the DNC's default
    for (const [n, r] of [
      [4, 2],
      [8, 1],
      [12, 4],
      [32, 3],
      [128, 4],
    ] as const) {
      const prev = uniform(rng, n * n, 0, 1 / n);
      const write = uniform(rng, n, 0, 1 / n);
      const precedence = uniform(rng, n, 0, 1 / n);
      const reads = uniform(rng, r * n, 0, 1 / n);
      const forward = [jsLinkKernels, simd].map((k) => {
        const out = [
          new Float32Array(n * n),
          new Float32Array(r * n),
          new Float32Array(r * n),
        ] as const;
        k.forward({
          n,
          r,
          prev,
          next: out[0],
          write,
          precedence,
          reads,
          forward: out[1],
          backward: out[2],
        });
        return out;
      });
      forward[1]?.forEach((a, i) =>
        expectClose(a, forward[0]?.[i] as Float32Array, 1e-6, `forward n ${n} #${i}`),
      );
      const [dF, dB, grad, dWrite, dPrecedence, dReads] = [r * n, r * n, n * n, n, n, r * n].map(
        (size) => uniform(rng, size, -1, 1),
      ) as Float32Array[];
      const backward = [jsLinkKernels, simd].map((k) => {
        const out = [grad, dWrite, dPrecedence, dReads].map((a) => (a as Float32Array).slice());
        const [g, dw, dp, dr] = out as Float32Array[];
        k.backward({
          n,
          r,
          prev,
          next: forward[1]?.[0] as Float32Array, // L_t from the SIMD forward
          write,
          precedence,
          reads,
          dForward: dF as Float32Array,
          dBackward: dB as Float32Array,
          grad: g as Float32Array,
          dWrite: dw as Float32Array,
          dPrecedence: dp as Float32Array,
          dReads: dr as Float32Array,
        });
        return out;
      });
      backward[1]?.forEach((a, i) =>
        expectClose(a, backward[0]?.[i] as Float32Array, 1e-5, `backward n ${n} #${i}`),
      );
    }
  });

  it('row products of a memory matrix', () => {
    const simd = rowKernelsFor(8);
    expect(simd.kind).toBe('simd');
    const [n, w, v] = [9, 8, 3];
    const m = uniform(rng, n * w, -1, 1);
    const vecs = uniform(rng, v * w, -1, 1);
    const coeffs = uniform(rng, v * n, -1, 1);
    const scale = uniform(rng, n, -1, 1);
    const run = (k: typeof jsRowKernels): Float32Array[] => {
      const dots = new Float32Array(v * n);
      const squares = new Float32Array(n);
      const mixed = uniform(rngFor(1), v * w);
      const dm = uniform(rngFor(2), n * w);
      k.dots(n, w, m, vecs, v, dots);
      k.squares(n, w, m, squares);
      k.mix(n, w, m, coeffs, v, mixed);
      k.update(n, w, dm, m, coeffs, vecs, v, scale);
      return [dots, squares, mixed, dm];
    };
    const expected = run(jsRowKernels);
    run(simd).forEach((a, i) => expectClose(a, expected[i] as Float32Array, 1e-5, `rows #${i}`));
  });

  it('dense products, padded to four columns', () => {
    const products = createProducts();
    try {
      for (const [m, k, n] of [
        [5, 7, 9],
        [16, 12, 8],
        [3, 4, 1],
      ] as const) {
        const a = uniform(rng, m * k, -1, 1);
        const b = uniform(rng, k * n, -1, 1);
        const aT = new Float32Array(k * m);
        const expected = new Float32Array(m * n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < k; j++) {
            aT[j * m + i] = a[i * k + j] as number;
            for (let c = 0; c < n; c++) {
              expected[i * n + c] =
                (expected[i * n + c] as number) +
                (a[i * k + j] as number) * (b[j * n + c] as number);
            }
          }
        }
        expectClose(
          products.times(a, m, products.keep(b, k, n)),
          expected,
          1e-5,
          `times ${m}x${k}x${n}`,
        );
        expectClose(
          products.transposedTimes(aT, k, m, b, n),
          expected,
          1e-5,
          `transposedTimes ${m}x${k}x${n}`,
        );
      }
    } finally {
      products.release();
    }
  });
});

describe('fused implementation: configuration, links and leaks', () => {
  /** A small DNC (memory 8 x 4, 2 read heads) and a copy batch of 2 for it. */
  const smallDnc = () => ({
    model: createModel(
      { type: 'dnc', inputSize: 5, outputSize: 4, memorySlots: 8, memoryWidth: 4, readHeads: 2 },
      { seed: 4 },
    ) as DncModel,
    data: copyBatch(new Rng(6), 2, 4, 2, 3),
  });

  it('is the default, selectable, and validated', () => {
    expect(resolveDncConfig({ inputSize: 2, outputSize: 2 }).implementation).toBe('fused');
    expect(
      resolveDncConfig({ inputSize: 2, outputSize: 2, implementation: 'composed' }).implementation,
    ).toBe('composed');
    expect(() =>
      resolveDncConfig({ inputSize: 2, outputSize: 2, implementation: 'fast' as never }),
    ).toThrow(/implementation must be one of fused, composed, got "?fast"?/);
    for (const resolve of [
      () => resolveDncConfig({ inputSize: 2, outputSize: 2, fused: false } as never),
      () => createModel({ type: 'dnc', inputSize: 2, outputSize: 2, fused: false } as never),
    ]) {
      expect(resolve).toThrow(MannError);
      expect(resolve).toThrow(
        "dnc config: the option 'fused' (got false) was renamed; use implementation: 'fused' | 'composed'",
      );
    }
  });

  it('keeps the link in JS memory (an opaque resident tensor) and the composed step refuses it', () => {
    const { fused, composed } = memories({ memorySlots: 6, memoryWidth: 4, readHeads: 1 });
    tidy(() => {
      const state = fused.initialState(2);
      expect(state.link).toBeInstanceOf(tf.Tensor);
      expect(isResidentLink(state.link)).toBe(true);
      expect((state.link as tf.Tensor).shape).toEqual([]);
      expect((readLink(state.link) as tf.Tensor).shape).toEqual([2, 1, 6, 6]);
      const plain = composed.initialState(2).link;
      expect(plain).toBeInstanceOf(tf.Tensor);
      expect(isResidentLink(plain)).toBe(false);
      expect(readLink(plain)).toBe(plain);
      const xi = tf.zeros([2, composed.interfaceSize]) as tf.Tensor2D;
      expect(() => composed.step(xi, state)).toThrow(MannError);
      expect(() => composed.step(xi, state)).toThrow(
        /resident link from the fused implementation; .* pass readLink\(state.link\)/,
      );
      const next = fused.step(xi, state).state.link;
      expect(isResidentLink(next)).toBe(true);
      const dense = readLink(next) as tf.Tensor;
      expect(dense.shape).toEqual([2, 1, 6, 6]);
      const sparse = createDncMemory({
        memorySlots: 6,
        memoryWidth: 4,
        readHeads: 1,
        sparseLinks: true,
        sparseLinkK: 2,
      });
      const sparseLink = readLink(sparse.initialState(2).link) as SparseLink;
      expect(sparseLink.values.shape).toEqual([2, 1, 6, 2]);
      expect(sparseLink.columns.dtype).toBe('int32');
    });
  });

  it('keeps no gradient for an initial link, which no step made; a made link passes its gradient on', () => {
    const { model, data } = smallDnc();
    const largest = (g: tf.Tensor): number => tf.max(tf.abs(g)).dataSync()[0] as number;
    tidy(() => {
      // the whole-sequence op, from a state whose link is an initial one
      const initial = model.initialState(2);
      const link0 = (initial as unknown as { memory: { link: tf.Tensor } }).memory.link;
      expect(isResidentLink(link0)).toBe(true);
      const variables = [...model.parameters.trainableEntries()].map(([, v]) => v);
      const { grads } = tf.variableGrads(
        () =>
          tf.sum(
            model.run(tf.tensor3d(data.inputs, [2, data.steps, 5]), { initialState: initial })
              .outputs,
          ),
        variables,
      );
      expect(Math.max(...Object.values(grads).map(largest))).toBeGreaterThan(0);
      expect(linkRecord(link0).grad).toBeNull();
      // two fused steps (the first link is zero whatever xi): the link the first made takes the
      // gradient of the second, which reads it, and hands it on to the first (which clears
      // it); the initial link keeps none
      const { fused } = memories({ memorySlots: 6, memoryWidth: 4, readHeads: 1 });
      const state = fused.initialState(2);
      const xi = tf.tensor2d(
        Array.from({ length: 2 * fused.interfaceSize }, (_, i) => Math.sin(i)),
        [2, fused.interfaceSize],
      );
      let made: tf.Tensor | undefined;
      const dXi = tf.grad((v) => {
        const first = fused.step(v as tf.Tensor2D, state).state;
        made = first.link as tf.Tensor;
        return tf.sum(tf.square(denseLink(fused.step(tf.neg(v) as tf.Tensor2D, first).state.link)));
      })(xi);
      expect(largest(dXi)).toBeGreaterThan(0);
      expect(linkRecord(made as tf.Tensor).made).toBe(true);
      expect(linkRecord(made as tf.Tensor).grad).toBeNull(); // taken by the first step
      expect(linkRecord(state.link as tf.Tensor).made).toBe(false);
      expect(linkRecord(state.link as tf.Tensor).grad).toBeNull();
    });
  });

  it('gives the same outputs run after run, with and without a gradient (pooled arrays reused)', () => {
    const { model, data } = smallDnc();
    const run = (): Float32Array =>
      tidy(
        () =>
          model
            .run(tf.tensor3d(data.inputs, [2, data.steps, 5]))
            .outputs.dataSync()
            .slice() as Float32Array,
      );
    const first = run();
    const variables = [...model.parameters.trainableEntries()].map(([, v]) => v);
    tidy(() => {
      const { value } = tf.variableGrads(
        () => tf.sum(model.run(tf.tensor3d(data.inputs, [2, data.steps, 5])).outputs) as tf.Scalar,
        variables,
      );
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    });
    expectClose(run(), first, 0, 'second inference');
    expectClose(run(), first, 0, 'third inference');
    model.dispose();
  });

  it("keeps a sequence's arrays in its links' runtime from the second call of a batch size on, with the same results to the bit", () => {
    const config = { type: 'dnc', inputSize: 5, outputSize: 4, readHeads: 2 };
    const data = copyBatch(new Rng(8), 3, 4, 2, 5);
    const inputs = (): tf.Tensor3D => tf.tensor3d(data.inputs, [3, data.steps, 5]);
    /** The outputs, and every parameter gradient of their sum, flat. */
    const gradients = (model: DncModel): Float32Array[] =>
      tidy(() => {
        const variables = [...model.parameters.trainableEntries()].map(([, v]) => v);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(model.run(inputs()).outputs) as tf.Scalar,
          variables,
        );
        return [
          value.dataSync().slice() as Float32Array,
          ...variables.map((v) => grads[v.name]!.dataSync().slice() as Float32Array),
        ];
      });
    const fusedStep = (model: DncModel): FusedMemoryStep =>
      (model.memory as unknown as { fused: FusedMemoryStep }).fused;
    // N 8: SIMD links, resident arrays (W 4: SIMD row kernels on them; W 3: the JS ones);
    // N 6: JS links, nothing resident
    for (const [memorySlots, memoryWidth] of [
      [8, 4],
      [8, 3],
      [6, 4],
    ] as const) {
      const fresh = (): DncModel =>
        createModel({ ...config, memorySlots, memoryWidth }, { seed: 9 }) as DncModel;
      const reference = fresh(); // every call's arrays pooled: its first call of the size
      const expected = gradients(reference);
      const model = fresh();
      tidy(() => model.run(inputs())); // an inference first: it measures the forward arrays only
      const resident = fusedStep(model).residentFloatsPerStep(3);
      expect(resident > 0, `N ${memorySlots}, W ${memoryWidth}`).toBe(memorySlots % 4 === 0);
      const mixed = gradients(model); // forward arrays resident, backward ones not
      expect(fusedStep(model).residentFloatsPerStep(3)).toBeGreaterThanOrEqual(resident);
      const full = gradients(model); // all resident
      for (const [k, want] of expected.entries()) {
        expect(Array.from(mixed[k]!), `mixed, ${k}, N ${memorySlots}, W ${memoryWidth}`).toEqual(
          Array.from(want),
        );
        expect(Array.from(full[k]!), `resident, ${k}, N ${memorySlots}, W ${memoryWidth}`).toEqual(
          Array.from(want),
        );
      }
      expect(fusedStep(model).residentFloatsPerStep(2)).toBe(0); // measured per batch size
      reference.dispose();
      model.dispose();
    }
  });

  it('leaks no tensors across training steps (whole-sequence op, and step by step)', async () => {
    for (const controller of [{ hiddenSizes: [8] }, { kind: 'feedforward', hiddenSizes: [8] }]) {
      const model = createModel(
        {
          type: 'dnc',
          inputSize: 5,
          outputSize: 4,
          memorySlots: 8,
          memoryWidth: 4,
          readHeads: 2,
          controller,
        },
        { seed: 1 },
      );
      const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-3 } });
      const rng = new Rng(2);
      trainer.trainStep(copyBatch(rng, 2, 4, 1, 3));
      const leaked = await tensorsLeaked(() => {
        for (let i = 0; i < 3; i++) trainer.trainStep(copyBatch(rng, 2, 4, 1, 3));
      });
      expect(leaked).toBe(0);
      trainer.dispose();
      model.dispose();
    }
  });
});
