import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MannError, Rng, getModelDefinition } from '@mann/core';
import { createTask } from '@mann/tasks';
import { collectReportData } from './collect.js';
import { lockResultsDir } from './lock.js';
import { checkMemoryFits, tensorMemoryLimit } from './memory-estimate.js';
import { runGrid, type GridSummary } from './pool.js';
import { createProgress, type ProgressDisplay } from './progress.js';
import { writeReport } from './report/index.js';
import type { RunRecord } from './report/types.js';
import { expandSuite, type RunSpec, type SuiteSpec } from './spec.js';
import { ResultsStore } from './store.js';
import { defaultThreads } from './threads.js';

/** Options of {@link runBenchmark}. */
export interface BenchmarkOptions {
  readonly suite: SuiteSpec;
  /** Only some model labels, tasks, or a number of seeds. */
  readonly filter?: { models?: readonly string[]; tasks?: readonly string[]; seeds?: number };
  /** Results directory: `results.db`, `checkpoints/`, `report/<suite>/`. Default `results`. */
  readonly resultsDir?: string;
  /** Worker processes (0: in this process). Default 1. */
  readonly workers?: number;
  /** Plugin modules every worker imports (the caller imports them too, before calling). */
  readonly plugins?: readonly string[];
  /** Progress display; default: lines or bars on stderr. */
  readonly progress?: ProgressDisplay;
  /** Backend forced in the workers. */
  readonly backend?: string;
  /**
   * `redis://host:port[/db]`: run through a BullMQ queue on Redis instead of local worker
   * processes; `mann worker --queue` processes the runs, on any machine. This process stays
   * the only writer of the results store. `workers` is then ignored.
   */
  readonly queue?: string;
  /**
   * Training threads of each run. Default: the cores shared out between the runs that train at
   * once (worker processes), at least 1, so that runs x threads <= cores.
   */
  readonly threads?: number;
}

/** What {@link runBenchmark} did. */
export interface BenchmarkResult {
  readonly specs: readonly RunSpec[];
  /** The suite's runs as stored, after this call. */
  readonly runs: readonly RunRecord[];
  readonly summary: GridSummary;
  readonly report: { readonly htmlPath: string; readonly markdownPath: string };
  readonly wallSeconds: number;
}

/**
 * Runs a suite's grid (models x tasks x seeds): runs already done are skipped, unfinished ones
 * resume from their checkpoints, failed ones are tried again; then writes the report. Model
 * configurations are checked before any training starts. The results directory is locked for
 * the duration (one writer per directory; a second caller gets an error naming the owner).
 */
export async function runBenchmark(options: BenchmarkOptions): Promise<BenchmarkResult> {
  const { suite } = options;
  const specs = expandSuite(suite, options.filter ?? {});
  for (const spec of specs) {
    const task = createTask(spec.task.name, spec.task.params ?? {});
    const config = getModelDefinition(spec.model.config.type).resolveConfig({
      ...spec.model.config,
      inputSize: task.inputWidth,
      outputSize: task.outputWidth,
    });
    try {
      checkMemoryFits(
        config as unknown as Record<string, unknown>,
        spec.training.batchSize,
        task.sample(new Rng(0), 1).steps,
        tensorMemoryLimit(
          options.backend && options.backend !== 'auto' ? options.backend : tf.getBackend(),
        ),
      );
    } catch (error) {
      throw new MannError(`${spec.id}: ${(error as Error).message}`);
    }
  }
  const resultsDir = resolve(options.resultsDir ?? 'results');
  // Queue mode: the URL, Redis and the coordinator's claim are checked before anything is written.
  // (Imported on demand: BullMQ and ioredis load only in this mode.)
  const queue = options.queue
    ? await (
        await import('./queue/coordinator.js')
      ).QueueCoordinator.open(options.queue, resultsDir)
    : undefined;
  let lock: ReturnType<typeof lockResultsDir>;
  try {
    lock = lockResultsDir(resultsDir, `bench --suite ${suite.name}`);
  } catch (error) {
    await queue?.close();
    throw error;
  }
  const progress = options.progress ?? createProgress();
  let store: ResultsStore | undefined;
  try {
    store = new ResultsStore(join(resultsDir, 'results.db'));
    // Through a queue, runs left 'running' may still be running on a worker.
    if (!queue) store.recoverInterrupted();
    store.addRuns(specs);
    const status = new Map(store.runs(suite.name).map((r) => [r.id, r.status]));
    const todo = specs.filter((s) => status.get(s.id) !== 'done');
    const workers = Math.min(options.workers ?? 1, todo.length);
    // Threads from the whole suite's runs, not the ones left: a resumed benchmark gives each run
    // the threads the interrupted one did (more threads sum a batch's gradient in another order).
    const threads = options.threads ?? defaultThreads(Math.min(options.workers ?? 1, specs.length));
    progress.log(
      `suite ${suite.name}: ${specs.length} runs, ${specs.length - todo.length} already done, ${todo.length} to run ${queue ? `through queue ${queue.url.shown}` : `${workers === 0 ? 'in this process' : `on ${workers} worker process${workers === 1 ? '' : 'es'}`}, ${threads} training thread${threads === 1 ? '' : 's'} each`}`,
    );
    if (!queue && Math.max(1, workers) * threads > availableParallelism()) {
      progress.log(
        `warning: ${Math.max(1, workers)} runs x ${threads} threads exceed the ${availableParallelism()} cores; they will compete for them`,
      );
    }
    const started = Date.now();
    const summary = queue
      ? await queue.runGrid(todo, { store, resultsDir, progress })
      : await runGrid(todo, {
          store,
          resultsDir,
          workers,
          plugins: options.plugins ?? [],
          progress,
          threads,
          ...(options.backend ? { backend: options.backend } : {}),
        });
    progress.stop();
    const report = await writeReport(
      collectReportData(store, suite.name),
      join(resultsDir, 'report', suite.name),
    );
    const ids = new Set(specs.map((s) => s.id));
    return {
      specs,
      runs: store.runs(suite.name).filter((r) => ids.has(r.id)),
      summary,
      report,
      wallSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    store?.close();
    await queue?.close();
    lock.release();
  }
}
