// The stack-memory example's fast path (examples/stack-memory/stack-fused.mjs) against its
// composed reference (the TF.js ops of stack-memory.mjs), as ntm and dnc test theirs: values
// and gradients of every input over several chained steps, on the cpu backend (the reference)
// and on wasm; finite differences; no tensor leaks; and a short training run of the model.
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  ParameterStore,
  Rng,
  Trainer,
  createModel,
  getModelDefinition,
  selectBackend,
  type BackendName,
  type MemoryAccess,
  type SequenceBatch,
  type StepTrace,
} from '@mann/core';
import { rowKernelsFor, simdAvailable } from '@mann/core/fused';
import { gradientCheck, maxAbsDifference, tensorsLeaked, withBackend } from '@mann/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { STACK_PLUGIN } from './cli-helpers.js';

type Implementation = 'fused' | 'composed';
interface StackState {
  readonly values: tf.Tensor3D;
  readonly strengths: tf.Tensor2D;
}
type Stack = MemoryAccess<StackState> & { readonly bottom: tf.Variable };
/** What the test uses of the plugin module (plain JavaScript, typed by its JSDoc). */
interface StackPlugin {
  register(): void;
  StackMemory: new (
    config: { width: number; depth: number; implementation?: Implementation },
    scope: ReturnType<ParameterStore['scope']>,
  ) => Stack;
  sampleReverse(
    params: { bits: number; minLength: number; maxLength: number },
    rng: Rng,
    batchSize: number,
  ): SequenceBatch;
}
interface FusedModule {
  packedStackSize(spec: { width: number; depth: number }): number;
}

const plugin = (await import(STACK_PLUGIN)) as StackPlugin;
const fused = (await import(join(STACK_PLUGIN, '../stack-fused.mjs'))) as FusedModule;
const { sampleReverse } = (await import(join(STACK_PLUGIN, '../reverse-task.mjs'))) as Pick<
  StackPlugin,
  'sampleReverse'
>;

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  plugin.register();
});

/** Accepted |fused - composed| (both float32), scaled by the reference's magnitude above 1. */
const TOLERANCE = 1e-5;
const BACKENDS: readonly BackendName[] = ['cpu', 'wasm'];

function expectClose(
  actual: Record<string, Float32Array>,
  expected: Record<string, Float32Array>,
  where: string,
  tolerance = TOLERANCE,
): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, values] of Object.entries(expected)) {
    const scale = Math.max(1, ...Array.from(values, Math.abs));
    const difference = maxAbsDifference(actual[name] as Float32Array, values);
    expect(difference, `${where}: ${name}`).toBeLessThanOrEqual(tolerance * scale);
  }
}

const values = (t: tf.Tensor): Float32Array => t.dataSync().slice() as Float32Array;

function uniform(rng: Rng, shape: number[], low: number, high: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    rng.fill(size, (r) => r.uniformIn(low, high)),
    shape,
  );
}

/** A stack memory with the bottom vector of seed 3, whichever the implementation. */
function makeStack(
  width: number,
  depth: number,
  implementation: Implementation,
): { stack: Stack; store: ParameterStore } {
  const store = new ParameterStore(new Rng(3));
  return {
    stack: new plugin.StackMemory({ width, depth, implementation }, store.scope('memory')),
    store,
  };
}

interface Case {
  readonly width: number;
  readonly depth: number;
  readonly steps: number;
  readonly batch: number;
}
const CASES: Record<string, Case> = {
  'width 3 (JS row kernels), within its depth': { width: 3, depth: 8, steps: 6, batch: 3 },
  'width 4 (SIMD row kernels where available), within its depth': {
    width: 4,
    depth: 7,
    steps: 6,
    batch: 2,
  },
  'width 8, beyond its depth (values fall off)': { width: 8, depth: 4, steps: 9, batch: 3 },
  'depth 1': { width: 2, depth: 1, steps: 4, batch: 2 },
};

/**
 * Runs `steps` chained steps from a random (or empty) state with random interface vectors and
 * returns every output of every step (reads, state, traces) and the gradients of a random
 * projection of all of them with respect to the interface vectors, the first state and the
 * bottom vector.
 */
function chainedSteps(
  implementation: Implementation,
  { width, depth, steps, batch }: Case,
  seed: number,
  empty: boolean,
): Record<string, Float32Array> {
  const { stack, store } = makeStack(width, depth, implementation);
  const results: Record<string, Float32Array> = {};
  tf.tidy(() => {
    const rng = new Rng(seed);
    const xis = tf.variable(uniform(rng, [steps, batch, width + 2], -3, 3));
    const v0 = tf.variable(uniform(rng, [batch, depth, width], -1, 1));
    // Strengths in [0, 1], a few exactly 0 (popped rows) when not empty.
    const s0 = tf.variable(
      empty ? tf.zeros([batch, depth]) : tf.relu(uniform(rng, [batch, depth], -0.3, 1)).minimum(1),
    );
    const projections = Array.from({ length: steps }, () => ({
      reads: uniform(rng, [batch, width], -1, 1),
      values: uniform(rng, [batch, depth, width], -1, 1),
      strengths: uniform(rng, [batch, depth], -1, 1),
      readWeights: uniform(rng, [batch, 1, depth], -1, 1),
      push: uniform(rng, [batch, 1], -1, 1),
      pop: uniform(rng, [batch, 1], -1, 1),
    }));
    const { value, grads } = tf.variableGrads(() => {
      let state: StackState = { values: v0 as tf.Tensor3D, strengths: s0 as tf.Tensor2D };
      let loss: tf.Scalar = tf.scalar(0);
      for (let t = 0; t < steps; t++) {
        const xi = tf.squeeze(tf.slice(xis, [t, 0, 0], [1, batch, width + 2]), [0]);
        const next = stack.step(xi as tf.Tensor2D, state, { trace: true });
        const trace = next.trace as StepTrace;
        const outputs: Record<string, tf.Tensor> = {
          reads: next.reads,
          values: next.state.values,
          strengths: next.state.strengths,
          readWeights: trace.readWeights!,
          push: trace.push!,
          pop: trace.pop!,
        };
        for (const [name, tensor] of Object.entries(outputs)) {
          results[`${name} ${t}`] = values(tensor);
          const projection = projections[t]![name as keyof (typeof projections)[number]];
          loss = tf.add(loss, tf.sum(tf.mul(tensor, projection)));
        }
        state = next.state;
      }
      return loss;
    }, [xis, v0, s0, stack.bottom]);
    results.loss = values(value);
    results['d interface vectors'] = values(grads[xis.name]!);
    results['d values_0'] = values(grads[v0.name]!);
    results['d strengths_0'] = values(grads[s0.name]!);
    results['d bottom'] = values(grads[stack.bottom.name]!);
    tf.dispose([xis, v0, s0]);
  });
  store.dispose();
  return results;
}

describe('the fused stack step against the composed one', () => {
  it('covers both row kernels: JS for width 3, SIMD for width 4 where WebAssembly SIMD runs', () => {
    expect(rowKernelsFor(3).kind).toBe('js');
    expect(rowKernelsFor(4).kind).toBe(simdAvailable() ? 'simd' : 'js');
  });

  for (const [name, c] of Object.entries(CASES)) {
    for (const empty of [false, true]) {
      it(`matches values and gradients over ${c.steps} steps: ${name}, ${empty ? 'empty' : 'random'} start`, async () => {
        for (const backend of BACKENDS) {
          await withBackend(backend, () => {
            for (const seed of [1, 2]) {
              expectClose(
                chainedSteps('fused', c, seed, empty),
                chainedSteps('composed', c, seed, empty),
                `${backend}, seed ${seed}`,
              );
            }
          });
        }
      });
    }
  }

  it('packs the outputs it documents: m + 2 D + 1 + D m per row', () => {
    expect(fused.packedStackSize({ width: 3, depth: 5 })).toBe(3 + 10 + 1 + 15);
  });

  it('has the gradients of central finite differences through a step', () => {
    const width = 4;
    const depth = 5;
    const batch = 2;
    const { stack, store } = makeStack(width, depth, 'fused');
    const rng = new Rng(17);
    const inputs = [
      uniform(rng, [batch, width + 2], -2, 2),
      uniform(rng, [batch, depth, width], -1, 1),
      uniform(rng, [batch, depth], 0.05, 0.6),
    ];
    const projection = uniform(rng, [batch, width], -1, 1);
    const result = gradientCheck(
      (xi, v, s) =>
        tf.sum(
          tf.mul(
            stack.step(xi as tf.Tensor2D, {
              values: v as tf.Tensor3D,
              strengths: s as tf.Tensor2D,
            }).reads,
            projection,
          ),
        ),
      inputs,
      { delta: 1e-3, atol: 2e-3, rtol: 2e-2 },
    );
    expect(result.ok, JSON.stringify(result.worst)).toBe(true);
    tf.dispose([...inputs, projection]);
    store.dispose();
  });

  it('leaks no tensors across steps, forward and backward', async () => {
    const { stack, store } = makeStack(4, 6, 'fused');
    const rng = new Rng(4);
    const xis = Array.from({ length: 5 }, () => uniform(rng, [2, 6], -2, 2) as tf.Tensor2D);
    const forward = await tensorsLeaked(() => {
      let state = stack.initialState(2);
      const reads = stack.initialReads(2);
      for (const xi of xis) {
        const next = stack.step(xi, state, { trace: true });
        tf.dispose([state.values, state.strengths, next.reads]);
        tf.dispose(Object.values(next.trace!).filter((t) => t !== next.state.strengths));
        state = next.state;
      }
      tf.dispose([reads, state.values, state.strengths]);
    });
    expect(forward).toBe(0);
    const backward = await tensorsLeaked(() => {
      const { value, grads } = tf.variableGrads(() => {
        let state = stack.initialState(2);
        let loss: tf.Scalar = tf.scalar(0);
        for (const xi of xis) {
          state = stack.step(xi, state).state;
          loss = tf.add(loss, tf.sum(state.values));
        }
        return loss;
      });
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(backward).toBe(0);
    tf.dispose(xis);
    store.dispose();
  });

  it('names a state of the wrong shape', () => {
    const { stack, store } = makeStack(2, 3, 'fused');
    tf.tidy(() => {
      expect(() =>
        stack.step(tf.zeros([1, 4]), { values: tf.zeros([1, 2, 2]), strengths: tf.zeros([1, 3]) }),
      ).toThrow('values must have shape [1, 3, 2] [B, D, m], got [1, 2, 2]');
    });
    store.dispose();
  });
});

describe('stack-rnn with implementation fused', () => {
  it('defaults to composed and rejects an unknown implementation, naming the choices', () => {
    const resolve = (config: Record<string, unknown>) =>
      getModelDefinition('stack-rnn').resolveConfig({ inputSize: 5, outputSize: 4, ...config });
    expect(resolve({}).implementation).toBe('composed');
    expect(() => resolve({ implementation: 'fast' })).toThrow(
      'implementation must be one of fused, composed',
    );
  });

  it('trains like the composed model: the same losses and parameters after 12 steps', async () => {
    const train = (implementation: Implementation): Record<string, Float32Array> => {
      const model = createModel(
        {
          type: 'stack-rnn',
          inputSize: 5,
          outputSize: 4,
          controller: { kind: 'feedforward', hiddenSizes: [16] },
          width: 4,
          depth: 8,
          implementation,
        },
        { seed: 6 },
      );
      const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-2 } });
      const rng = new Rng(12);
      const losses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const batch = sampleReverse({ bits: 4, minLength: 1, maxLength: 5 }, rng, 8);
        const result = trainer.trainStep(batch);
        expect(result.skipped).toBe(false);
        losses.push(result.bitsPerSequence);
      }
      const results: Record<string, Float32Array> = { losses: Float32Array.from(losses) };
      for (const [name, p] of Object.entries(model.parameters.snapshot())) results[name] = p.values;
      trainer.dispose?.();
      model.dispose();
      return results;
    };
    for (const backend of BACKENDS) {
      await withBackend(backend, () => {
        const composed = train('composed');
        const fast = train('fused');
        // Training compounds float32 rounding over the steps: 1e-4, as ntm and dnc accept.
        expectClose(fast, composed, backend, 1e-4);
        // It learned something: the loss fell.
        const losses = composed.losses!;
        expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
      });
    }
  }, 60_000);
});
