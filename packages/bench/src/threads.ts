import { availableParallelism } from 'node:os';
import { trainingThreadsFor } from '@mann/core';

/**
 * Training threads per run when `concurrentRuns` runs train at once on `cores` cores: the cores
 * shared out so that runs x threads <= cores (at least 1 thread each). `mann train` is one run
 * (every core); `mann bench` with as many worker processes as cores gives each run one thread.
 */
export function defaultThreads(concurrentRuns: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, concurrentRuns)));
}

/**
 * What is wrong with training one run on `threads` threads, batches of `batchSize` and `cores`
 * cores, as warnings (none when nothing is): threads beyond the cores compete for them (each
 * step waits for the slowest), and threads beyond the batch's sequences are not started
 * (`trainingThreadsFor`: at most one per sequence).
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
  const running = trainingThreadsFor(threads, batchSize);
  if (running < threads) {
    warnings.push(
      `warning: --threads ${threads} exceeds the batch of ${batchSize} sequences; the run starts ${running} threads, one per sequence (a thread more would never get a part of a batch)`,
    );
  }
  return warnings;
}
