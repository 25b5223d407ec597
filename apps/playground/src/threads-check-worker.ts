/**
 * The threads check's trainer (a Web Worker, as a trainer with threads must be): runs the
 * commands of the check page (threads-check.ts) and answers each with what it measured.
 * - `equal`: a small DNC on copy, 3 steps on 1 thread and on 2 (the playground's training thread,
 *   training-thread.ts), same data; the 2-thread trainer is kept (its thread running) until
 *   `dispose`. Also what a step before `startThreads()` says.
 * - `dispose`: disposes that trainer and waits for `close()`.
 * - `fail`: a thread that throws in its step (threads-check-thread.ts) and one that cannot start.
 */
import {
  Rng,
  Trainer,
  createModel,
  selectBackend,
  type RecurrentModel,
  type SequenceBatch,
} from '@mann/core';
import '@mann/ntm';
import '@mann/dnc';
import { createTask } from '@mann/tasks';
import { modelConfig, taskParams } from './models.js';
import { DEFAULT_SETTINGS, type PlaygroundSettings } from './protocol.js';
import { startTrainingThread } from './thread-script.js';
import { registerThreadProbe } from './thread-probe.js';
import { WASM_PATHS, singleThreadedWasm } from './wasm-paths.js';

/** Page -> check worker. */
export type CheckCommand = 'equal' | 'dispose' | 'fail';

/** What `equal` measured. */
export interface EqualResult {
  /** Loss of each step, bits per sequence: [one thread, two threads]. */
  readonly losses: [number[], number[]];
  readonly gradNorms: [number[], number[]];
  readonly parameterCount: number;
  /** Largest |difference| of any parameter after the steps. */
  readonly maxParameterDifference: number;
  /** The error of a step taken before `startThreads()`. */
  readonly stepBeforeStart: string;
}

/** What `fail` measured. */
export interface FailResult {
  /** The error of the step whose thread threw. */
  readonly stepError: string;
  /** Updates applied by then. */
  readonly steps: number;
  /** The error of the next step (the failure stopped the threads). */
  readonly nextStep: string;
  /** The error of `startThreads()` on a thread that cannot build the model. */
  readonly startError: string;
}

/** Check worker -> page. */
export type CheckReply =
  | { readonly type: 'ready'; readonly backend: string }
  | { readonly type: 'result'; readonly command: CheckCommand; readonly result: unknown }
  | { readonly type: 'error'; readonly command?: CheckCommand; readonly message: string };

const post = (reply: CheckReply): void => (self as unknown as Worker).postMessage(reply);
const message = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

singleThreadedWasm();
registerThreadProbe(false, 200);
const backendReady = selectBackend({ backend: 'wasm', wasmPaths: WASM_PATHS });
backendReady.then(
  (info) => post({ type: 'ready', backend: info.name }),
  (error: unknown) => post({ type: 'error', message: `no backend: ${message(error)}` }),
);

/** The 2-thread trainer of `equal`, kept until `dispose`. */
let kept: { trainer: Trainer; model: RecurrentModel } | undefined;

const SETTINGS: PlaygroundSettings = {
  ...DEFAULT_SETTINGS,
  model: 'dnc',
  task: 'copy',
  memorySlots: 16,
  memoryWidth: 8,
  hiddenSize: 32,
  batchSize: 5, // chunks of 3 and 2 sequences
  learningRate: 1e-3,
  difficulty: 4,
  seed: 1,
};

async function equal(): Promise<EqualResult> {
  const task = createTask(SETTINGS.task, taskParams(SETTINGS));
  const config = modelConfig(SETTINGS, task.inputWidth, task.outputWidth);
  const rng = new Rng(7);
  const batches: SequenceBatch[] = [0, 1, 2].map(() => task.sample(rng, SETTINGS.batchSize));
  let stepBeforeStart = '';
  const train = async (workers: number) => {
    const model = createModel(config, { seed: SETTINGS.seed });
    const trainer = new Trainer(model, {
      optimizer: { kind: 'adam', learningRate: SETTINGS.learningRate },
      clipNorm: 10,
      ...(workers > 1 ? { workers, workerScript: startTrainingThread } : {}),
    });
    if (workers > 1) {
      try {
        trainer.trainStep(batches[0]!);
      } catch (error) {
        stepBeforeStart = message(error);
      }
      await trainer.startThreads();
    }
    const results = batches.map((batch) => trainer.trainStep(batch));
    const parameters = model.parameters
      .entries()
      .map(([, v]) => v.dataSync().slice() as Float32Array);
    return { trainer, model, results, parameters };
  };
  const one = await train(1);
  one.trainer.dispose();
  one.model.dispose();
  const two = await train(2);
  kept = { trainer: two.trainer, model: two.model };
  let maxParameterDifference = 0;
  let parameterCount = 0;
  two.parameters.forEach((p, k) => {
    const q = one.parameters[k]!;
    if (p.length !== q.length) throw new Error(`parameter ${k}: ${p.length} vs ${q.length} values`);
    for (let i = 0; i < p.length; i++) {
      const d = Math.abs(p[i]! - q[i]!);
      maxParameterDifference = Number.isNaN(d) ? Infinity : Math.max(maxParameterDifference, d);
    }
    parameterCount += p.length;
  });
  return {
    losses: [one.results.map((r) => r.bitsPerSequence), two.results.map((r) => r.bitsPerSequence)],
    gradNorms: [one.results.map((r) => r.gradNorm), two.results.map((r) => r.gradNorm)],
    parameterCount,
    maxParameterDifference,
    stepBeforeStart,
  };
}

async function dispose(): Promise<{ disposed: boolean }> {
  if (!kept) return { disposed: false };
  const { trainer, model } = kept;
  kept = undefined;
  trainer.dispose();
  model.dispose();
  await trainer.close();
  return { disposed: true };
}

async function fail(): Promise<FailResult> {
  const task = createTask('copy', { minLength: 1, maxLength: 3 });
  const config = {
    type: 'thread-probe',
    inputSize: task.inputWidth,
    outputSize: task.outputWidth,
    hiddenSizes: [8],
  };
  const model = createModel(config, { seed: 3 });
  const batch = task.sample(new Rng(5), 4);
  const failing = new Trainer(model, {
    workers: 2,
    workerScript: () =>
      new Worker(new URL('./threads-check-thread.ts', import.meta.url), { type: 'module' }),
  });
  let stepError = '';
  let nextStep = '';
  let startError = '';
  try {
    await failing.startThreads();
    try {
      failing.trainStep(batch);
    } catch (error) {
      stepError = message(error);
    }
    try {
      failing.trainStep(batch);
    } catch (error) {
      nextStep = message(error);
    }
    // The playground's own thread script does not register thread-probe: its start fails.
    const unknown = new Trainer(model, { workers: 2, workerScript: startTrainingThread });
    try {
      await unknown.startThreads();
    } catch (error) {
      startError = message(error);
    } finally {
      unknown.dispose();
      await unknown.close();
    }
    return { stepError, steps: failing.step, nextStep, startError };
  } finally {
    failing.dispose();
    model.dispose();
    await failing.close();
  }
}

const COMMANDS: Record<CheckCommand, () => Promise<unknown>> = { equal, dispose, fail };

self.onmessage = (event: MessageEvent<CheckCommand>) => {
  const command = event.data;
  backendReady
    .then(() => {
      const run = COMMANDS[command];
      if (!run) throw new Error(`unknown command ${String(command)}`);
      return run();
    })
    .then(
      (result) => post({ type: 'result', command, result }),
      (error: unknown) => post({ type: 'error', command, message: message(error) }),
    );
};
