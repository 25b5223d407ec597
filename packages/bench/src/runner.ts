import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  TrainingSession,
  batchTensors,
  createModel,
  loadCheckpoint,
  predict,
  selectBackend,
  type RecurrentModel,
  type SequenceBatch,
} from '@mann/core';
import { createTask, type CurriculumState, type Task } from '@mann/tasks';
import { threadModules } from './builtins.js';
import type { CurvePoint, EvaluationRecord, MemoryPicture } from './report/types.js';
import {
  runCurriculum,
  setName,
  type GeneralisationSet,
  type RunSpec,
  type StopCondition,
} from './spec.js';

/** What a run reports while it trains; the benchmark's parent process stores these. */
export type RunEvent =
  | {
      type: 'start';
      runId: string;
      parameters: number;
      backend: string;
      fromStep: number;
      totalSteps: number;
    }
  | {
      type: 'progress';
      runId: string;
      step: number;
      totalSteps: number;
      sequences: number;
      bitsPerSequence: number;
      bitErrorsPerSequence: number | null;
      sequencesPerSecond: number;
      wallMs: number;
    }
  | { type: 'curve'; point: CurvePoint }
  | {
      type: 'checkpoint';
      runId: string;
      step: number;
      sequences: number;
      wallMs: number;
      /** The new checkpoint, written but not yet in force (see {@link commitCheckpoint}). */
      staged: string;
    }
  | { type: 'evaluation'; record: EvaluationRecord }
  | { type: 'picture'; picture: MemoryPicture }
  | { type: 'warning'; runId: string; step: number; message: string }
  | {
      type: 'done';
      runId: string;
      step: number;
      sequences: number;
      wallMs: number;
      /** When the run met its `stopAt` target; absent when it never did. */
      converged?: Convergence;
    };

/** When a run met its {@link StopCondition} (it stops there, or `trainOn` sequences later). */
export interface Convergence {
  readonly step: number;
  readonly sequences: number;
  /** Training wall time when the target was met (summed over resumptions), milliseconds. */
  readonly wallMs: number;
}

/** Whether `scores` meet `stopAt` (always false without one). */
export function meetsStopCondition(
  stopAt: StopCondition | undefined,
  scores: { readonly bitsPerSequence: number; readonly bitErrorsPerSequence: number },
): boolean {
  return stopAt !== undefined && scores[stopAt.metric] < stopAt.below;
}

/** The convergence a checkpoint's metadata records, if any. */
function convergenceOf(metadata: Record<string, unknown>): Convergence | undefined {
  const c = metadata.converged as Partial<Convergence> | undefined;
  if (!c || typeof c !== 'object') return undefined;
  const { step, sequences, wallMs } = c;
  if (typeof step !== 'number' || typeof sequences !== 'number' || typeof wallMs !== 'number') {
    return undefined;
  }
  return { step, sequences, wallMs };
}

/**
 * A run whose evaluation cost grows past this multiple of its cost before training is reported
 * as diverging (a warning; training goes on). An untrained model costs about one bit per target
 * bit; Adam with a learning rate of 1000 reaches ~1e17.
 */
export const DIVERGENCE_FACTOR = 10;

/** Where a run's checkpoint lives inside a results directory. */
export function checkpointPath(resultsDir: string, runId: string): string {
  return join(resultsDir, 'checkpoints', `${runId.replaceAll('/', '__')}.ckpt`);
}

/**
 * Where a run's checkpoint of update `step` waits until whoever stores the run's events has
 * stored every event before it. Only then is it renamed over {@link checkpointPath}
 * ({@link commitCheckpoint}), so the checkpoint a run resumes from is never ahead of the
 * results database: the events between the two would otherwise be lost for good.
 */
export function stagedCheckpointPath(resultsDir: string, runId: string, step: number): string {
  return `${checkpointPath(resultsDir, runId)}.step-${step}`;
}

/** Puts a staged checkpoint in force (an atomic rename over the run's checkpoint). */
export function commitCheckpoint(staged: string, resultsDir: string, runId: string): void {
  renameSync(staged, checkpointPath(resultsDir, runId));
}

/** Removes staged checkpoints of a run that were never committed (their events were lost). */
function removeStagedCheckpoints(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) return;
  const prefix = `${basename(path)}.step-`;
  for (const file of readdirSync(dir)) {
    if (file.startsWith(prefix)) rmSync(join(dir, file), { force: true });
  }
}

/**
 * A run may resume from its checkpoint only if the results database holds its rows up to the
 * checkpoint's update: a checkpoint ahead of the database (the database was deleted, emptied or
 * replaced by an older copy) would otherwise finish the run with curve points missing. Such a
 * checkpoint is moved aside (`<checkpoint>.orphan-<time>`, nothing is deleted) so the run starts
 * over; returns the new path of the moved checkpoint, if any.
 */
export async function setAsideOrphanCheckpoint(
  resultsDir: string,
  runId: string,
  storedSteps: number,
): Promise<{ movedTo: string; checkpointStep: number } | undefined> {
  const path = checkpointPath(resultsDir, runId);
  if (!existsSync(path)) return undefined;
  const checkpointStep = (await loadCheckpoint(path)).trainerState?.steps ?? 0;
  if (checkpointStep <= storedSteps) return undefined;
  const movedTo = `${path}.orphan-${new Date().toISOString().replaceAll(':', '-')}`;
  renameSync(path, movedTo);
  return { movedTo, checkpointStep };
}

/** A deterministic 31-bit seed from a string. */
export function seedFrom(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0) >>> 1;
}

/** The fixed evaluation batch of a task: the same for every model and seed of a benchmark. */
export function evaluationBatch(task: Task, setName: string, size: number): SequenceBatch {
  return task.sample(
    new Rng(seedFrom(`eval/${task.name}/${JSON.stringify(task.params)}/${setName}`)),
    size,
  );
}

/** Sigmoid outputs on a batch, in chunks to bound memory on long sequences. */
function predictInChunks(model: RecurrentModel, batch: SequenceBatch, chunk = 32): Float32Array {
  if (batch.batchSize <= chunk) return predict(model, batch);
  const { steps: t, inputWidth: i, outputWidth: o } = batch;
  const out = new Float32Array(batch.batchSize * t * o);
  for (let start = 0; start < batch.batchSize; start += chunk) {
    const n = Math.min(chunk, batch.batchSize - start);
    const part: SequenceBatch = {
      batchSize: n,
      steps: t,
      inputWidth: i,
      outputWidth: o,
      inputs: batch.inputs.subarray(start * t * i, (start + n) * t * i),
      targets: batch.targets.subarray(start * t * o, (start + n) * t * o),
      mask: batch.mask.subarray(start * t, (start + n) * t),
    };
    out.set(predict(model, part), start * t * o);
  }
  return out;
}

/** Scores `model` on `batch` with the task's own scoring. */
export function evaluateOn(
  model: RecurrentModel,
  task: Task,
  batch: SequenceBatch,
): ReturnType<Task['score']> {
  return task.score(predictInChunks(model, batch), batch);
}

/**
 * The scores an evaluation record keeps besides the three every task has: `bitErrorRate` (the
 * fraction of judged bits that are wrong: bit errors over the bits of the masked steps) and the
 * task's own extra scores (`gapToOptimal` of dynamic n-grams, `answerStepAccuracy` of the graph
 * tasks, ...). Non-finite values are kept out (JSON cannot hold them).
 */
export function evaluationScores(
  scores: ReturnType<Task['score']>,
  batch: SequenceBatch,
): Record<string, number> {
  let judgedSteps = 0;
  for (const m of batch.mask) if (m !== 0) judgedSteps++;
  const judgedBits = judgedSteps * batch.outputWidth;
  const out: Record<string, number> = {
    bitErrorRate:
      judgedBits === 0 ? 0 : (scores.bitErrorsPerSequence * batch.batchSize) / judgedBits,
  };
  for (const [key, value] of Object.entries(scores)) {
    if (key === 'bitsPerSequence' || key === 'bitErrorsPerSequence' || key === 'sequenceAccuracy')
      continue;
    if (Number.isFinite(value)) out[key] = value;
  }
  return out;
}

/** Numeric difficulty of a generalisation set from its name (`length-50` -> 50). */
export function setDifficulty(name: string): number | null {
  const match = /(\d+(?:\.\d+)?)$/.exec(name);
  return match ? Number(match[1]) : null;
}

const PICTURE_TRACES = ['readWeights', 'writeWeights', 'usage'] as const;

/**
 * Runs the model on one sequence with tracing on and keeps what a memory picture shows:
 * inputs, targets, outputs and, per trace, head 0's weighting over slots at every step.
 */
export function captureMemoryPicture(
  model: RecurrentModel,
  task: Task,
  runId: string,
  modelLabel: string,
): MemoryPicture {
  const batch = task.sample(new Rng(seedFrom(`picture/${task.name}`)), 1);
  const { steps: t, inputWidth: iw, outputWidth: ow } = batch;
  const rows = (values: ArrayLike<number>, width: number): number[][] =>
    Array.from({ length: t }, (_, s) =>
      Array.from({ length: width }, (_, k) => values[s * width + k] as number),
    );
  const { outputs, traces } = tf.tidy(() => {
    const { inputs } = batchTensors(batch);
    const result = model.run(inputs, { trace: true });
    const kept: Record<string, number[][]> = {};
    for (const key of PICTURE_TRACES) {
      const trace = result.traces?.[key];
      if (!trace) continue;
      // [1, T, N] or [1, T, H, N] (head 0)
      const matrix =
        trace.rank === 4 ? trace.slice([0, 0, 0, 0], [1, t, 1, trace.shape[3] as number]) : trace;
      const slots = matrix.shape[matrix.rank - 1] as number;
      kept[key] = rows(matrix.dataSync(), slots);
    }
    return { outputs: tf.sigmoid(result.outputs).dataSync().slice(), traces: kept };
  });
  return {
    runId,
    modelLabel,
    task: task.name,
    inputs: rows(batch.inputs, iw),
    targets: rows(batch.targets, ow),
    outputs: rows(outputs, ow),
    mask: Array.from(batch.mask),
    traces,
  };
}

/** Options of {@link executeRun}. */
export interface ExecuteRunOptions {
  readonly resultsDir: string;
  readonly emit: (event: RunEvent) => void;
  /** Start over even if a checkpoint exists (default: resume from it). */
  readonly fresh?: boolean;
  /**
   * Training threads of the run (`TrainerOptions.workers`; default 1, none started). The trainer
   * starts at most one per sequence of its batches (a thread more would never get a part of one).
   */
  readonly threads?: number;
  /** Plugin modules the training threads import (besides the NTM and DNC). */
  readonly plugins?: readonly string[];
}

/**
 * Trains one run to its sequence budget: resumes from its checkpoint if there is one, evaluates
 * on the fixed evaluation set every `evalEvery` sequences, checkpoints every `checkpointEvery`
 * updates (atomically), then evaluates on the training distribution and the generalisation sets
 * and captures a memory picture. Everything it measures goes out through `emit`.
 *
 * With `training.stopAt`, the budget is a cap: the run records the first evaluation that
 * meets the target, stops there (or `stopAt.trainOn` sequences later), checkpoints at the stop
 * (checkpoints record the convergence, so a resumed run does not train past its stop) and
 * reports it in its `done` event. Evaluations fall on the same updates whether or not the run
 * was resumed, so a resumed run stops where an uninterrupted one does.
 */
export async function executeRun(spec: RunSpec, options: ExecuteRunOptions): Promise<void> {
  const backend = await selectBackend();
  const task = createTask(spec.task.name, spec.task.params ?? {});
  const { training } = spec;
  // With a curriculum, batches come from its current level, and each batch's bit errors are
  // measured before the update (one forward pass more a step) to decide when to advance.
  const curriculum = training.curriculum
    ? runCurriculum(spec.task, training.curriculum)
    : undefined;
  let batchErrors: number | undefined;
  const sample = (rng: Rng, size: number): SequenceBatch => {
    if (!curriculum) return task.sample(rng, size);
    const batch = curriculum.task().sample(rng, size);
    batchErrors = session.trainer.evaluate(batch).bitErrorsPerSequence;
    return batch;
  };
  const path = checkpointPath(options.resultsDir, spec.id);
  removeStagedCheckpoints(path);
  const threading = {
    workers: options.threads ?? 1,
    workerModules: threadModules(options.plugins ?? []),
  };
  let session: TrainingSession;
  let wallBefore = 0;
  // Cost on the evaluation set before training (saved in checkpoints): the divergence baseline.
  let initialBits: number | undefined;
  let warnedDivergence = false;
  let converged: Convergence | undefined;
  if (!options.fresh && existsSync(path)) {
    const resumed = await TrainingSession.resume(path, sample, threading);
    session = resumed.session;
    wallBefore = Number(resumed.metadata.wallMs ?? 0);
    if (typeof resumed.metadata.initialBits === 'number')
      initialBits = resumed.metadata.initialBits;
    warnedDivergence = resumed.metadata.warnedDivergence === true;
    converged = convergenceOf(resumed.metadata);
    if (curriculum && resumed.metadata.curriculum)
      curriculum.setState(resumed.metadata.curriculum as CurriculumState);
  } else {
    const model = createModel(
      { ...spec.model.config, inputSize: task.inputWidth, outputSize: task.outputWidth },
      { seed: spec.seed },
    );
    session = new TrainingSession({
      model,
      sample,
      batchSize: training.batchSize,
      dataSeed: spec.seed,
      trainerOptions: {
        optimizer: training.optimizer,
        clipNorm: training.clipNorm,
        clipGradientValue: training.clipGradientValue,
        ...threading,
      },
    });
  }
  try {
    const batchSize = session.batchSize;
    const totalSteps = Math.ceil(training.sequences / batchSize);
    const evalEverySteps = Math.max(1, Math.round(training.evalEvery / batchSize));
    const trainPointEvery = Math.max(1, Math.floor(totalSteps / 200));
    const evalSet = evaluationBatch(task, 'train', training.evalSize);
    const fromStep = session.step;
    const trainOnSteps = Math.ceil((training.stopAt?.trainOn ?? 0) / batchSize);
    /** Whether the run has met its target and trained its `trainOn` after it. */
    const stopped = (): boolean =>
      converged !== undefined && session.step >= converged.step + trainOnSteps;
    options.emit({
      type: 'start',
      runId: spec.id,
      parameters: session.model.parameters.count(),
      backend: backend.name,
      fromStep,
      totalSteps,
    });
    const started = performance.now();
    const wall = (): number => wallBefore + (performance.now() - started);
    const evaluate = (): void => {
      const scores = evaluateOn(session.model, task, evalSet);
      options.emit({
        type: 'curve',
        point: {
          runId: spec.id,
          kind: 'eval',
          step: session.step,
          sequences: session.step * batchSize,
          bitsPerSequence: scores.bitsPerSequence,
          bitErrorsPerSequence: scores.bitErrorsPerSequence,
          wallMs: wall(),
        },
      });
      lastErrors = scores.bitErrorsPerSequence;
      if (session.step === 0) initialBits = scores.bitsPerSequence;
      else if (
        !warnedDivergence &&
        initialBits !== undefined &&
        scores.bitsPerSequence > DIVERGENCE_FACTOR * initialBits
      ) {
        warnedDivergence = true;
        options.emit({
          type: 'warning',
          runId: spec.id,
          step: session.step,
          message: `training diverges: the evaluation cost is ${scores.bitsPerSequence.toPrecision(3)} bits per sequence at update ${session.step}, more than ${DIVERGENCE_FACTOR} times its ${initialBits.toPrecision(3)} before training (learning rate too high?)`,
        });
      }
      if (converged === undefined && meetsStopCondition(training.stopAt, scores)) {
        converged = { step: session.step, sequences: session.step * batchSize, wallMs: wall() };
      }
    };
    const save = async (): Promise<void> => {
      const staged = stagedCheckpointPath(options.resultsDir, spec.id, session.step);
      await session.save(staged, {
        runId: spec.id,
        wallMs: wall(),
        task: spec.task,
        modelLabel: spec.model.label,
        ...(initialBits !== undefined ? { initialBits } : {}),
        warnedDivergence,
        ...(converged ? { converged } : {}),
        ...(curriculum ? { curriculum: curriculum.getState() } : {}),
      });
      options.emit({
        type: 'checkpoint',
        runId: spec.id,
        step: session.step,
        sequences: session.step * batchSize,
        wallMs: wall(),
        staged,
      });
    };
    let lastErrors: number | null = null;
    if (fromStep === 0) evaluate();
    let windowStart = performance.now();
    let windowSteps = 0;
    while (session.step < totalSteps && !stopped()) {
      // Yield to the event loop once per update, so that a worker notices at once when its
      // parent has gone (IPC 'disconnect') instead of at its next checkpoint.
      await new Promise((resolve) => setImmediate(resolve));
      const result = session.trainStep();
      if (curriculum && batchErrors !== undefined && !result.skipped) {
        curriculum.update(batchErrors);
        batchErrors = undefined;
      }
      windowSteps++;
      const step = session.step;
      if (!result.skipped && step % trainPointEvery === 0) {
        options.emit({
          type: 'curve',
          point: {
            runId: spec.id,
            kind: 'train',
            step,
            sequences: step * batchSize,
            bitsPerSequence: result.bitsPerSequence,
            bitErrorsPerSequence: Number.NaN,
            wallMs: wall(),
          },
        });
      }
      if (step % evalEverySteps === 0 || step === totalSteps) evaluate();
      const now = performance.now();
      options.emit({
        type: 'progress',
        runId: spec.id,
        step,
        totalSteps,
        sequences: step * batchSize,
        bitsPerSequence: result.bitsPerSequence,
        bitErrorsPerSequence: lastErrors,
        sequencesPerSecond: (windowSteps * batchSize * 1000) / Math.max(1, now - windowStart),
        wallMs: wall(),
      });
      if (now - windowStart > 5000) {
        windowStart = now;
        windowSteps = 0;
      }
      if (step % training.checkpointEvery === 0 || step === totalSteps || stopped()) await save();
    }
    // A run that trained no update here (resumed from its last checkpoint, or one that met its
    // target before its first update) confirms that checkpoint, so the store's progress matches it.
    if (session.step === fromStep) await save();
    const sets: GeneralisationSet[] = [
      'train',
      ...(spec.task.generalisation ?? task.generalisation),
    ];
    for (const set of sets) {
      const name = setName(set);
      const setTask =
        set === 'train'
          ? task
          : typeof set === 'string'
            ? task.variant(set)
            : task.variantWith(set.params);
      const setBatch =
        name === 'train' ? evalSet : evaluationBatch(setTask, name, training.evalSize);
      const scores = evaluateOn(session.model, setTask, setBatch);
      options.emit({
        type: 'evaluation',
        record: {
          runId: spec.id,
          set: name,
          x: name === 'train' ? null : setDifficulty(name),
          bitsPerSequence: scores.bitsPerSequence,
          bitErrorsPerSequence: scores.bitErrorsPerSequence,
          sequenceAccuracy: scores.sequenceAccuracy,
          scores: evaluationScores(scores, setBatch),
        },
      });
    }
    options.emit({
      type: 'picture',
      picture: captureMemoryPicture(session.model, task, spec.id, spec.model.label),
    });
    options.emit({
      type: 'done',
      runId: spec.id,
      step: session.step,
      sequences: session.step * batchSize,
      wallMs: wall(),
      ...(converged ? { converged } : {}),
    });
  } finally {
    session.dispose();
  }
}
