import { availableParallelism } from 'node:os';

/**
 * Training threads per run when `concurrentRuns` runs train at once on `cores` cores: the cores
 * shared out so that runs x threads <= cores (at least 1 thread each). `mann train` is one run
 * (every core); `mann bench` with as many worker processes as cores gives each run one thread.
 */
export function defaultThreads(concurrentRuns: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, concurrentRuns)));
}

/**
 * The training threads a run starts when given `threads`: at most one per sequence of its
 * batches, since a thread beyond that never gets a part of one (the chunks and so the results are
 * the same either way: a batch is cut into at most one chunk per sequence).
 */
export function runThreads(threads: number, batchSize: number): number {
  return Math.max(1, Math.min(threads, batchSize));
}

/**
 * What is wrong with training one run on `threads` threads, batches of `batchSize` and `cores`
 * cores, as warnings (none when nothing is): threads beyond the cores compete for them (each
 * step waits for the slowest), and threads beyond the batch's sequences are not started
 * (`runThreads`).
 */
export function threadWarnings(
  threads: number,
  batchSize: number,
  cores = availableParallelism(),
): string[] {
  const warnings: string[] = [];
  if (threads > cores) {
    warnings.push(
      `warning: --threads ${threads} exceeds the ${cores} cores; the threads will compete for them and each step waits for the slowest`,
    );
  }
  if (threads > batchSize) {
    warnings.push(
      `warning: --threads ${threads} exceeds the batch of ${batchSize} sequences; the run starts ${batchSize} threads, one per sequence (a thread more would never get a part of a batch)`,
    );
  }
  return warnings;
}
