// The worked plugin example, examples/stack-memory: the neural stack against hand-computed
// cases and a loop-based transcription of the paper's equations, a finite-difference gradient
// check, the registered model, and `mann bench --plugin` training it next to the LSTM.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  ParameterStore,
  Rng,
  createModel,
  getMemoryDefinition,
  getModelDefinition,
  selectBackend,
  type MemoryAccess,
  type RecurrentModel,
  type SequenceBatch,
} from '@mann/core';
import { gradientCheck, tensorsLeaked } from '@mann/core/testing';
import { createTask } from '@mann/tasks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  STACK_PLUGIN,
  STACK_SUITE,
  json,
  mann,
  query,
  removeScratch,
  scratchDir,
  writeSuite,
} from './cli-helpers.js';

/** The state of the stack, newest row first: V [B, D, m], s [B, D]. */
interface StackState {
  readonly values: tf.Tensor3D;
  readonly strengths: tf.Tensor2D;
}
interface StackControls {
  readonly value: tf.Tensor2D;
  readonly push: tf.Tensor2D;
  readonly pop: tf.Tensor2D;
}
/** What the test uses of the plugin module (plain JavaScript, typed by its JSDoc). */
interface StackPlugin {
  register(): void;
  neuralStackStep(
    state: StackState,
    controls: StackControls,
  ): { state: StackState; weights: tf.Tensor2D; read: tf.Tensor2D };
  StackMemory: new (
    config: { width: number; depth: number },
    scope: ReturnType<ParameterStore['scope']>,
  ) => MemoryAccess<StackState> & { readonly bottom: tf.Variable };
  sampleReverse(
    params: { bits: number; minLength: number; maxLength: number },
    rng: Rng,
    batchSize: number,
  ): SequenceBatch;
}

const plugin = (await import(STACK_PLUGIN)) as StackPlugin;
const REVERSE_SAMPLER = join(STACK_PLUGIN, '../reverse-task.mjs');
const { sampleReverse } = (await import(REVERSE_SAMPLER)) as Pick<StackPlugin, 'sampleReverse'>;

beforeAll(async () => {
  // The cpu backend is the reference (float32 everywhere, no kernel fusion).
  await selectBackend({ backend: 'cpu' });
  plugin.register();
});
afterAll(removeScratch);

const emptyStack = (batch: number, depth: number, width: number): StackState => ({
  values: tf.zeros([batch, depth, width]),
  strengths: tf.zeros([batch, depth]),
});
const controls = (value: number[][], push: number[], pop: number[]): StackControls => ({
  value: tf.tensor2d(value),
  push: tf.tensor2d(push, [push.length, 1]),
  pop: tf.tensor2d(pop, [pop.length, 1]),
});
const rows = (t: tf.Tensor): number[][] => t.arraySync() as number[][];

/** Asserts equal shapes and |actual - expected| <= tolerance everywhere. */
function expectClose(actual: tf.Tensor, expected: number[][], tolerance = 1e-6): void {
  const got = rows(actual);
  expect(got.length).toBe(expected.length);
  got.forEach((row, i) => {
    expect(row.length).toBe(expected[i]!.length);
    row.forEach((v, j) =>
      expect(v, `[${i}, ${j}]`).toBeCloseTo(expected[i]![j]!, -Math.log10(tolerance)),
    );
  });
}

/**
 * Equations (1)-(3) of Grefenstette et al. 2015 as written, one sequence at a time, in the
 * paper's indexing (value i at row i, rows grow with t), plus the plugin's bound: after each
 * step only values pushed less than `depth` steps ago are kept.
 */
function paperStack(
  steps: { value: number[]; push: number; pop: number }[],
  depth: number,
): { reads: number[][]; strengths: number[][] } {
  let values: number[][] = [];
  let strengths: number[] = [];
  const reads: number[][] = [];
  const kept: number[][] = [];
  for (const { value, push, pop } of steps) {
    // (2) s_t[i] = max(0, s_{t-1}[i] - max(0, u_t - sum_{j=i+1}^{t-1} s_{t-1}[j])), i < t
    const next = strengths.map((s, i) => {
      let above = 0;
      for (let j = i + 1; j < strengths.length; j++) above += strengths[j]!;
      return Math.max(0, s - Math.max(0, pop - above));
    });
    // (1) V_t[t] = v_t; (2) s_t[t] = d_t
    values = [...values, value];
    strengths = [...next, push];
    // The plugin's bound: only the newest `depth` rows are kept.
    values = values.slice(-depth);
    strengths = strengths.slice(-depth);
    // (3) r_t = sum_i min(s_t[i], max(0, 1 - sum_{j=i+1}^{t} s_t[j])) V_t[i]
    const read = value.map(() => 0);
    strengths.forEach((s, i) => {
      let above = 0;
      for (let j = i + 1; j < strengths.length; j++) above += strengths[j]!;
      const weight = Math.min(s, Math.max(0, 1 - above));
      values[i]!.forEach((v, k) => (read[k]! += weight * v));
    });
    reads.push(read);
    // Newest first, padded with empty rows to `depth`, as the plugin stores them.
    kept.push([...[...strengths].reverse(), ...Array<number>(depth - strengths.length).fill(0)]);
  }
  return { reads, strengths: kept };
}

describe('neuralStackStep', () => {
  it('push, push, pop: the read is the value under the popped one', () => {
    tf.tidy(() => {
      let state = emptyStack(1, 3, 2);
      const a = [1, 2];
      const b = [3, 4];
      const steps = [
        { c: controls([a], [1], [0]), read: [a] },
        { c: controls([b], [1], [0]), read: [b] },
        // Pop one whole value and push nothing: B goes, A is on top again.
        { c: controls([[9, 9]], [0], [1]), read: [a] },
      ];
      for (const step of steps) {
        const next = plugin.neuralStackStep(state, step.c);
        expectClose(next.read, step.read);
        state = next.state;
      }
      expectClose(state.strengths, [[0, 0, 1]]);
    });
  });

  it('follows the fractional strengths of the paper (its Figure 1)', () => {
    tf.tidy(() => {
      const [v1, v2, v3] = [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ] as const;
      let state = emptyStack(1, 4, 3);
      // t = 1: push v1 with d = 0.8. r_1 = 0.8 v1.
      let next = plugin.neuralStackStep(state, controls([[...v1]], [0.8], [0]));
      expectClose(next.read, [[0.8, 0, 0]]);
      state = next.state;
      // t = 2: pop 0.1 (from v1), push v2 with d = 0.5. s = (0.7, 0.5); r_2 = 0.5 v2 + 0.5 v1.
      next = plugin.neuralStackStep(state, controls([[...v2]], [0.5], [0.1]));
      expectClose(next.state.strengths, [[0.5, 0.7, 0, 0]]);
      expectClose(next.read, [[0.5, 0.5, 0]]);
      state = next.state;
      // t = 3: pop 0.9 (all of v2, 0.4 of v1), push v3 with d = 0.9. r_3 = 0.9 v3 + 0.1 v1.
      next = plugin.neuralStackStep(state, controls([[...v3]], [0.9], [0.9]));
      expectClose(next.state.strengths, [[0.9, 0, 0.3, 0]]);
      expectClose(next.weights, [[0.9, 0, 0.1, 0]]);
      expectClose(next.read, [[0.1, 0, 0.9]]);
    });
  });

  it.each([
    ['within its depth', 6, 8],
    ['beyond its depth (the oldest values fall off)', 12, 4],
  ])('matches the paper equations %s', (_, steps, depth) => {
    const rng = new Rng(5);
    const batch = 3;
    const width = 2;
    const sequences = Array.from({ length: batch }, () =>
      Array.from({ length: steps }, () => ({
        value: [rng.uniformIn(-1, 1), rng.uniformIn(-1, 1)],
        push: rng.uniform(),
        pop: rng.uniform(),
      })),
    );
    const expected = sequences.map((s) => paperStack(s, depth));
    tf.tidy(() => {
      let state = emptyStack(batch, depth, width);
      for (let t = 0; t < steps; t++) {
        const at = sequences.map((s) => s[t]!);
        const next = plugin.neuralStackStep(
          state,
          controls(
            at.map((x) => x.value),
            at.map((x) => x.push),
            at.map((x) => x.pop),
          ),
        );
        expectClose(
          next.read,
          expected.map((e) => e.reads[t]!),
          1e-5,
        );
        expectClose(
          next.state.strengths,
          expected.map((e) => e.strengths[t]!),
          1e-5,
        );
        // Invariants: strengths in [0, 1]; read weights in [0, 1] summing to at most 1.
        for (const s of rows(next.state.strengths).flat()) expect(s >= 0 && s <= 1).toBe(true);
        for (const w of rows(next.weights)) {
          expect(w.every((x) => x >= 0 && x <= 1)).toBe(true);
          expect(w.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-6);
        }
        state = next.state;
      }
    });
  });

  it('names a control of the wrong shape', () => {
    tf.tidy(() => {
      expect(() =>
        plugin.neuralStackStep(emptyStack(2, 3, 4), controls([[1, 2, 3, 4]], [1], [0])),
      ).toThrow('value must have shape [2, 4] [B, m], got [1, 4]');
    });
  });
});

describe('StackMemory (the MemoryAccess)', () => {
  const width = 2;
  const depth = 3;
  const make = (): { memory: InstanceType<StackPlugin['StackMemory']>; store: ParameterStore } => {
    const store = new ParameterStore(new Rng(3));
    return { memory: new plugin.StackMemory({ width, depth }, store.scope('memory')), store };
  };
  /** Interface vector [atanh(value) ; push logit ; pop logit]. */
  const interfaceVector = (value: number[], push: number, pop: number): tf.Tensor2D =>
    tf.tensor2d([[...value.map(Math.atanh), push, pop]]);

  it('declares its sizes and its one parameter, the bottom vector', () => {
    const { memory, store } = make();
    expect(memory.interfaceSize).toBe(width + 2);
    expect(memory.readSize).toBe(width);
    expect(store.names()).toEqual(['memory/bottom']);
    store.dispose();
  });

  it('reads the bottom when empty, the pushed value after a push, and the bottom after a pop', () => {
    const { memory, store } = make();
    tf.tidy(() => {
      const bottom = [...(memory.bottom.dataSync() as Float32Array)];
      expectClose(memory.initialReads(1), [bottom]);
      const a = [0.5, -0.25];
      const pushed = memory.step(interfaceVector(a, 30, -30), memory.initialState(1));
      expectClose(pushed.reads, [a], 1e-5);
      const popped = memory.step(interfaceVector([0, 0], -30, 30), pushed.state);
      expectClose(popped.reads, [bottom], 1e-5);
    });
    store.dispose();
  });

  it('traces read weights, strengths and the push and pop strengths when asked', () => {
    const { memory, store } = make();
    tf.tidy(() => {
      const state = memory.initialState(2);
      const xi = tf.zeros([2, width + 2]) as tf.Tensor2D;
      expect(memory.step(xi, state).trace).toBeUndefined();
      const { trace } = memory.step(xi, state, { trace: true });
      expect(Object.fromEntries(Object.entries(trace!).map(([k, t]) => [k, t.shape]))).toEqual({
        readWeights: [2, 1, depth],
        strengths: [2, depth],
        push: [2, 1],
        pop: [2, 1],
      });
      // Logits 0: push and pop strengths 0.5.
      expectClose(trace!.push!, [[0.5], [0.5]]);
    });
    store.dispose();
  });

  it('names an interface vector of the wrong width', () => {
    const { memory, store } = make();
    tf.tidy(() => {
      expect(() => memory.step(tf.zeros([1, width]), memory.initialState(1))).toThrow(
        `interfaceVector must have shape [*, ${width + 2}] [B, m + 2], got [1, ${width}]`,
      );
    });
    store.dispose();
  });

  it('has the gradients of central finite differences through a step', () => {
    const { memory, store } = make();
    const rng = new Rng(11);
    const uniform = (shape: number[], low: number, high: number): tf.Tensor =>
      tf.tensor(
        rng.fill(
          shape.reduce((a, b) => a * b),
          (r) => r.uniformIn(low, high),
        ),
        shape,
      );
    const batch = 2;
    const inputs = [
      uniform([batch, width + 2], -2, 2), // interface vector
      uniform([batch, depth, width], -1, 1), // V_{t-1}
      uniform([batch, depth], 0.05, 0.6), // s_{t-1}
    ];
    const projection = uniform([batch, width], -1, 1);
    const result = gradientCheck(
      (xi, values, strengths) =>
        tf.sum(
          tf.mul(
            memory.step(xi as tf.Tensor2D, {
              values: values as tf.Tensor3D,
              strengths: strengths as tf.Tensor2D,
            }).reads,
            projection,
          ),
        ),
      inputs,
      { delta: 1e-3, atol: 2e-3, rtol: 2e-2 },
    );
    expect(result.ok, JSON.stringify(result.worst)).toBe(true);
    expect(result.checked).toBe(batch * (width + 2) + batch * depth * width + batch * depth);
    tf.dispose([...inputs, projection]);
    store.dispose();
  });

  it('leaks no tensors', async () => {
    const { memory, store } = make();
    const leaked = await tensorsLeaked(() => {
      const state = memory.initialState(2);
      const reads = memory.initialReads(2);
      const xi = tf.ones([2, width + 2]) as tf.Tensor2D;
      const step = memory.step(xi, state, { trace: true });
      tf.dispose([xi, state.values, state.strengths, reads, step.reads, step.state.values]);
      tf.dispose([step.state.strengths, ...Object.values(step.trace!)]);
    });
    expect(leaked).toBe(0);
    store.dispose();
  });
});

describe('the registered model and memory scheme', () => {
  const batch = (): SequenceBatch =>
    sampleReverse({ bits: 4, minLength: 1, maxLength: 3 }, new Rng(2), 2);

  it('builds stack-rnn with its defaults and runs it with traces', () => {
    const model = createModel(
      { type: 'stack-rnn', inputSize: 5, outputSize: 4, controller: { hiddenSizes: [8] } },
      { seed: 1 },
    );
    expect(model.config).toEqual({
      type: 'stack-rnn',
      inputSize: 5,
      outputSize: 4,
      controller: { kind: 'lstm', hiddenSizes: [8], activation: 'tanh', init: 'glorot' },
      clipValue: 20,
      width: 8,
      depth: 32,
      implementation: 'composed',
    });
    const data = batch();
    tf.tidy(() => {
      const inputs = tf.tensor3d(data.inputs, [data.batchSize, data.steps, data.inputWidth]);
      const { outputs, traces } = model.run(inputs, { trace: true });
      expect(outputs.shape).toEqual([2, data.steps, 4]);
      expect(traces!.readWeights!.shape).toEqual([2, data.steps, 1, 32]);
    });
    model.dispose();
  });

  it('builds the same network as the generic memory network with memory type stack', () => {
    const config = { inputSize: 5, outputSize: 4, controller: { hiddenSizes: [8] } };
    const models: RecurrentModel[] = [
      createModel({ type: 'stack-rnn', ...config, width: 3, depth: 5 }, { seed: 4 }),
      createModel(
        { type: 'memory', ...config, memory: { type: 'stack', width: 3, depth: 5 } },
        { seed: 4 },
      ),
    ];
    const [a, b] = models.map((m) => m.parameters.snapshot());
    expect(Object.keys(a!)).toEqual(Object.keys(b!));
    const data = batch();
    const [ya, yb] = models.map((m) =>
      tf.tidy(() =>
        m
          .run(tf.tensor3d(data.inputs, [data.batchSize, data.steps, data.inputWidth]))
          .outputs.dataSync(),
      ),
    );
    expect(ya).toEqual(yb);
    for (const m of models) m.dispose();
  });

  it('rejects unknown options and bad sizes with the valid ones', () => {
    const resolve = (config: Record<string, unknown>) => () =>
      getModelDefinition('stack-rnn').resolveConfig({ inputSize: 5, outputSize: 4, ...config });
    expect(resolve({ slots: 3 })).toThrow(
      "unknown stack-rnn config option 'slots'; valid options: type, inputSize, outputSize, controller, clipValue, width, depth, implementation",
    );
    expect(resolve({ depth: 0 })).toThrow('depth must be an integer >= 1, got 0');
    expect(resolve({ width: 2.5 })).toThrow('width must be an integer >= 1, got 2.5');
    expect(() => getMemoryDefinition('stack').resolveConfig({ size: 3 })).toThrow(
      "unknown stack memory config option 'size'; valid options: width, depth, implementation",
    );
  });

  it('registers the reverse task: the answer is the input backwards', () => {
    const task = createTask('reverse', { bits: 3, minLength: 2, maxLength: 4 });
    expect([task.inputWidth, task.outputWidth]).toEqual([4, 3]);
    expect(task.generalisation).toEqual(['length-10', 'length-20', 'length-30']);
    const data = task.sample(new Rng(9), 4);
    const { steps: t, inputWidth: iw, outputWidth: ow } = data;
    for (let b = 0; b < data.batchSize; b++) {
      const at = (s: number, k: number) => data.inputs[(b * t + s) * iw + k];
      const length = Array.from({ length: t }, (_, s) => s).find((s) => at(s, ow) === 1)!;
      expect(length).toBeGreaterThanOrEqual(2);
      const mask = Array.from(data.mask.subarray(b * t, (b + 1) * t));
      expect(mask).toEqual(mask.map((_, s) => (s > length && s <= 2 * length ? 1 : 0)));
      for (let i = 0; i < length; i++) {
        const target = Array.from(
          data.targets.subarray((b * t + length + 1 + i) * ow, (b * t + length + 2 + i) * ow),
        );
        expect(target).toEqual(Array.from({ length: ow }, (_, k) => at(length - 1 - i, k)));
      }
    }
  });
});

describe('mann bench --plugin examples/stack-memory', () => {
  it('loads the example suite with the plugin, and names its models', async () => {
    const result = await mann(
      'bench',
      '--plugin',
      STACK_PLUGIN,
      '--suite',
      STACK_SUITE,
      '--models',
      'nope',
      '--json',
    );
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(
      "suite 'stack-reverse' has no model 'nope'; it has: stack, lstm",
    );
  });

  it('trains and benchmarks the stack next to the LSTM', async () => {
    // The example suite with a smaller budget: the same models, task and sets.
    const example = JSON.parse(readFileSync(STACK_SUITE, 'utf8')) as {
      name: string;
      training: Record<string, unknown>;
    };
    const dir = await scratchDir('stack');
    const suite = await writeSuite(dir, {
      ...example,
      training: {
        ...example.training,
        sequences: 480,
        evalEvery: 160,
        evalSize: 16,
        checkpointEvery: 10,
      },
    });
    const results = join(dir, 'results');
    const result = await mann(
      'bench',
      '--plugin',
      STACK_PLUGIN,
      '--suite',
      suite,
      '--workers',
      '2',
      '--results',
      results,
      '--json',
    );
    expect(result.code, result.stderr).toBe(0);
    const output = json<{
      suite: string;
      runs: {
        id: string;
        modelLabel: string;
        modelType: string;
        status: string;
        sequences: number;
      }[];
      report: { htmlPath: string; markdownPath: string };
    }>(result);
    expect(output.suite).toBe('stack-reverse');
    expect(output.runs.map((r) => [r.modelLabel, r.modelType, r.status, r.sequences])).toEqual([
      ['lstm', 'lstm', 'done', 480],
      ['stack', 'stack-rnn', 'done', 480],
    ]);
    const stack = output.runs.find((r) => r.modelLabel === 'stack')!;
    const curve = query<{ kind: string; n: number }>(
      results,
      'SELECT kind, COUNT(*) AS n FROM curve WHERE run_id = ? GROUP BY kind ORDER BY kind',
      stack.id,
    );
    expect(curve).toEqual([
      { kind: 'eval', n: 4 },
      { kind: 'train', n: 30 },
    ]);
    const sets = query<{ set_name: string; bits: number }>(
      results,
      'SELECT set_name, bits FROM evaluations WHERE run_id = ? ORDER BY x',
      stack.id,
    );
    expect(sets.map((s) => s.set_name)).toEqual(['train', 'length-10', 'length-20']);
    for (const s of sets) expect(s.bits).toBeGreaterThan(0);
    const [picture] = query<{ data: string }>(
      results,
      'SELECT data FROM pictures WHERE run_id = ?',
      stack.id,
    );
    expect(Object.keys((JSON.parse(picture!.data) as { traces: object }).traces)).toEqual([
      'readWeights',
    ]);
    for (const path of [output.report.htmlPath, output.report.markdownPath]) {
      expect(existsSync(path), path).toBe(true);
    }
    expect(readFileSync(output.report.markdownPath, 'utf8')).toContain('| stack (stack-rnn) |');

    // Its checkpoint evaluates with the plugin loaded, and without it says what is missing.
    const checkpoint = join(results, 'checkpoints', `${stack.id.replaceAll('/', '__')}.ckpt`);
    const evaluated = await mann(
      'eval',
      checkpoint,
      '--plugin',
      STACK_PLUGIN,
      '--size',
      '8',
      '--json',
    );
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const withoutPlugin = await mann('eval', checkpoint, '--json');
    expect(withoutPlugin.code).toBe(1);
    expect(json<{ error: string }>(withoutPlugin).error).toContain("unknown task 'reverse'");
  }, 120_000);
});
