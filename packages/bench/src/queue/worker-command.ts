// `mann worker --queue redis://...`: takes runs from the queue and trains them in BullMQ
// sandboxed processors (child processes, see processor.ts), until stopped.
import { availableParallelism, hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { Worker, type ConnectionOptions } from 'bullmq';
import type { CommonOptions } from '../options.js';
import type { RunJobData, RunJobResult } from './processor.js';
import {
  QUEUE_NAME,
  checkReachable,
  connectionOptions,
  parseQueueUrl,
  productionWarnings,
} from './redis.js';

/** Options of `mann worker`. */
export interface WorkerCommandOptions extends CommonOptions {
  readonly queue: string;
  /** Runs trained at once, each in its own child process. Default: the cores. */
  readonly concurrency?: number;
  /**
   * How long a run's lock lasts without renewal, ms (BullMQ's lockDuration; also how often this
   * worker looks for stalled runs). A run whose worker died goes to another worker after this.
   */
  readonly lockDuration: number;
}

/** Plugin paths made absolute: the child processes resolve them from their own directory. */
const absolute = (plugins: readonly string[]): string[] =>
  plugins.map((p) =>
    p.startsWith('.') || isAbsolute(p) || /\.(m?js|cjs)$/.test(p) ? resolve(p) : p,
  );

/** Runs a queue worker until SIGINT or SIGTERM, then exits the process. */
export async function workerCommand(
  options: WorkerCommandOptions,
  prepare: (options: CommonOptions) => Promise<string>,
): Promise<never> {
  const url = parseQueueUrl(options.queue);
  await checkReachable(url);
  const warnings = await productionWarnings(url);
  // Loads the plugins here too: a plugin that cannot load fails now, not in every run.
  const backend = await prepare(options);
  const concurrency = options.concurrency ?? availableParallelism();
  process.env.MANN_QUEUE_URL = url.href;
  process.env.MANN_PLUGINS = JSON.stringify(absolute(options.plugin));
  process.env.MANN_BACKEND = backend;
  const log = (line: string): void => {
    if (!options.json) process.stderr.write(`${line}\n`);
  };
  const emit = (fields: Record<string, unknown>): void => {
    if (options.json) process.stdout.write(`${JSON.stringify(fields)}\n`);
  };
  const worker = new Worker<RunJobData, RunJobResult>(
    QUEUE_NAME,
    new URL('./processor.js', import.meta.url),
    {
      connection: connectionOptions(url) as ConnectionOptions,
      concurrency,
      lockDuration: options.lockDuration,
      stalledInterval: options.lockDuration,
      // A run whose worker dies is handed out again; only a run that keeps killing its workers fails.
      maxStalledCount: 5,
      useWorkerThreads: false,
    },
  );
  let lastError = '';
  worker.on('error', (error) => {
    if (error.message === lastError) return;
    lastError = error.message;
    log(`mann worker: ${error.message}`);
  });
  worker.on('ready', () => {
    lastError = '';
  });
  worker.on('active', (job) => {
    log(`mann worker: started ${job.data.spec.id}`);
    emit({ event: 'started', runId: job.data.spec.id, host: hostname(), pid: process.pid });
  });
  worker.on('completed', (job) => {
    log(`mann worker: finished ${job.data.spec.id}`);
    emit({ event: 'finished', runId: job.data.spec.id });
  });
  worker.on('failed', (job, error) => {
    log(`mann worker: failed ${job?.data.spec.id ?? '?'}: ${error.message}`);
    emit({ event: 'failed', runId: job?.data.spec.id, error: error.message });
  });
  await worker.waitUntilReady();
  log(
    `mann worker on ${hostname()}: ${concurrency} run${concurrency === 1 ? '' : 's'} at a time from ${url.shown}`,
  );
  for (const warning of warnings) log(`mann worker: warning: ${warning}`);
  emit({ event: 'ready', host: hostname(), pid: process.pid, concurrency, backend });
  await new Promise<void>((done) => {
    const stop = (): void => {
      log('mann worker: stopping; runs in progress go to other workers once their lock expires');
      // Runs can take hours: do not wait for them. The child processes end when this process
      // does (processor.ts); the runs resume elsewhere from their checkpoints.
      const closing = worker.close(true);
      const timer = setTimeout(done, 2000);
      void closing.finally(() => {
        clearTimeout(timer);
        done();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.exit(0);
}
