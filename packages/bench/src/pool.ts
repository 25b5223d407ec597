import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { commitCheckpoint, executeRun, setAsideOrphanCheckpoint, type RunEvent } from './runner.js';
import type { ResultsStore } from './store.js';
import type { RunSpec } from './spec.js';
import type { FromWorker, ToWorker } from './worker.js';
import type { ProgressDisplay } from './progress.js';

/** Options of {@link runGrid}. */
export interface RunGridOptions {
  readonly store: ResultsStore;
  readonly resultsDir: string;
  /** Worker processes; 0 runs everything in this process, one run after another. */
  readonly workers: number;
  /** Plugin modules each worker imports before training. */
  readonly plugins: readonly string[];
  readonly progress: ProgressDisplay;
  /** Backend forced in the workers (MANN_BACKEND), if any. */
  readonly backend?: string;
  /** Start every run over, ignoring existing checkpoints. */
  readonly fresh?: boolean;
  /** Training threads of each run (default 1). */
  readonly threads?: number;
}

/** How the grid went. */
export interface GridSummary {
  readonly done: string[];
  readonly failed: { runId: string; message: string }[];
}

/** Consecutive failed starts after which a worker slot stops starting processes. */
const WORKER_START_ATTEMPTS = 3;

/** `task/model/s<seed>`: how progress lines name a run. */
export const label = (spec: RunSpec): string =>
  `${spec.task.name}/${spec.model.label}/s${spec.seed}`;

/**
 * Stores a run's events and shows its progress. A storage error goes to `onError` instead of
 * ending the benchmark.
 */
function recorder(
  store: ResultsStore,
  progress: ProgressDisplay,
  spec: RunSpec,
  resultsDir: string,
  onError: (error: Error) => void,
): (event: RunEvent) => void {
  return (event) => {
    try {
      record(store, progress, spec, resultsDir, event);
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
    }
  };
}

/** Stores one event of a run and shows its progress (the queue coordinator stores its events with this too). */
export function record(
  store: ResultsStore,
  progress: ProgressDisplay,
  spec: RunSpec,
  resultsDir: string,
  event: RunEvent,
): void {
  switch (event.type) {
    case 'start':
      store.startRun(event.runId, {
        parameters: event.parameters,
        backend: event.backend,
        fromStep: event.fromStep,
      });
      progress.start(event.runId, label(spec), event.totalSteps, event.fromStep);
      break;
    case 'progress':
      progress.update(event.runId, event.step, event);
      break;
    case 'curve':
      store.addCurvePoint(event.point);
      break;
    case 'checkpoint':
      // Events arrive in order: every event before this checkpoint is stored by now, so the
      // run may resume from it.
      store.updateProgress(event.runId, {
        steps: event.step,
        sequences: event.sequences,
        wallMs: event.wallMs,
      });
      commitCheckpoint(event.staged, resultsDir, event.runId);
      break;
    case 'evaluation':
      store.addEvaluation(event.record);
      break;
    case 'warning':
      store.addWarning(event.runId, event.step, event.message);
      progress.log(`${label(spec)}: warning: ${event.message}`);
      break;
    case 'picture':
      store.setPicture(event.picture);
      break;
    case 'done':
      store.finishRun(event.runId, {
        steps: event.step,
        sequences: event.sequences,
        wallMs: event.wallMs,
        ...(event.converged ? { converged: event.converged } : {}),
      });
      progress.finish(
        event.runId,
        `${label(spec)}: ${event.converged ? 'converged' : 'done'}, ${event.sequences.toLocaleString('en-US')} sequences in ${(event.wallMs / 1000).toFixed(0)} s`,
      );
      break;
  }
}

/**
 * Trains `specs` on a pool of worker processes (each run on one worker, runs spread over the
 * workers), storing every event. A run that throws, or whose worker dies, is marked failed with
 * its error; the others go on.
 */
export async function runGrid(
  allSpecs: readonly RunSpec[],
  options: RunGridOptions,
): Promise<GridSummary> {
  const { store, progress } = options;
  const summary: GridSummary = { done: [], failed: [] };
  let specs: readonly RunSpec[] = allSpecs;
  const fail = (spec: RunSpec, message: string, stack?: string): void => {
    store.failRun(spec.id, message, stack);
    summary.failed.push({ runId: spec.id, message });
    progress.finish(spec.id, `${label(spec)}: FAILED: ${message}`);
  };
  const isSettled = (id: string): boolean =>
    summary.done.includes(id) || summary.failed.some((f) => f.runId === id);
  const runnable: RunSpec[] = [];
  for (const spec of specs) {
    try {
      if (!options.fresh) {
        const moved = await setAsideOrphanCheckpoint(
          options.resultsDir,
          spec.id,
          store.progressOf(spec.id)?.steps ?? 0,
        );
        if (moved)
          progress.log(
            `${label(spec)}: its checkpoint (update ${moved.checkpointStep}) is ahead of the results database (update ${store.progressOf(spec.id)?.steps ?? 0}); starting the run over, the checkpoint was moved to ${moved.movedTo}`,
          );
      }
      runnable.push(spec);
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      fail(spec, e.message, e.stack);
    }
  }
  specs = runnable;
  if (options.workers === 0) {
    for (const spec of specs) {
      try {
        await executeRun(spec, {
          resultsDir: options.resultsDir,
          emit: recorder(store, progress, spec, options.resultsDir, (error) => {
            throw error;
          }),
          fresh: options.fresh ?? false,
          threads: options.threads ?? 1,
          plugins: options.plugins,
        });
        summary.done.push(spec.id);
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        fail(spec, e.message, e.stack);
      }
    }
    return summary;
  }
  const queue = [...specs];
  const workerPath = fileURLToPath(new URL('./worker.js', import.meta.url));
  let startError = '';
  // `failedStarts`: consecutive times this worker slot's process ended before it was ready.
  const startWorker = (failedStarts = 0): Promise<void> =>
    new Promise((resolve) => {
      if (queue.length === 0) return resolve();
      if (failedStarts >= WORKER_START_ATTEMPTS) return resolve(); // this slot gives up
      const child: ChildProcess = fork(workerPath, [], {
        env: {
          ...process.env,
          MANN_PLUGINS: JSON.stringify(options.plugins),
          ...(options.backend ? { MANN_BACKEND: options.backend } : {}),
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let current: RunSpec | undefined;
      let emit: ((event: RunEvent) => void) | undefined;
      let ready = false;
      let whyNotReady = '';
      const next = (): void => {
        current = queue.shift();
        if (!current) {
          child.send({ type: 'stop' } satisfies ToWorker);
          return;
        }
        const run = current;
        emit = recorder(store, progress, run, options.resultsDir, (error) => {
          // The results of this run can no longer be stored: fail it and stop its worker.
          if (!isSettled(run.id)) fail(run, `cannot store results: ${error.message}`, error.stack);
          child.kill();
        });
        child.send({
          type: 'run',
          spec: current,
          resultsDir: options.resultsDir,
          fresh: options.fresh ?? false,
          threads: options.threads ?? 1,
        } satisfies ToWorker);
      };
      child.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          ready = true;
          next();
        } else if (message.type === 'startFailed') whyNotReady = message.message;
        else if (message.type === 'event') emit?.(message.event);
        else if (message.type === 'finished') {
          summary.done.push(message.runId);
          next();
        } else if (message.type === 'failed' && current) {
          fail(current, message.message, message.stack);
          next();
        }
      });
      child.on('exit', (code, signal) => {
        if (current && !isSettled(current.id)) {
          fail(
            current,
            `worker process exited unexpectedly (code ${code}, signal ${signal}) during this run`,
          );
        }
        if (!ready) {
          startError = `${whyNotReady || 'no message'} (exit code ${code}, signal ${signal})`;
        }
        // Replace a worker that died with work left, so the rest of the queue still runs; a
        // worker that cannot start is tried WORKER_START_ATTEMPTS times, not forever.
        if (queue.length > 0) void startWorker(ready ? 0 : failedStarts + 1).then(resolve);
        else resolve();
      });
    });
  const count = Math.max(1, Math.min(options.workers, specs.length));
  await Promise.all(Array.from({ length: count }, () => startWorker()));
  // Every worker slot gave up: the runs left cannot be trained here.
  for (const spec of queue.splice(0)) {
    fail(
      spec,
      `worker process failed to start ${WORKER_START_ATTEMPTS} times in a row: ${startError}`,
    );
  }
  return summary;
}
