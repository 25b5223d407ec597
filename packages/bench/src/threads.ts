import { availableParallelism } from 'node:os';

/**
 * Training threads per run when `concurrentRuns` runs train at once on `cores` cores: the cores
 * shared out so that runs x threads <= cores (at least 1 thread each). `mann train` is one run
 * (every core); `mann bench` with as many worker processes as cores gives each run one thread.
 */
export function defaultThreads(concurrentRuns: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, concurrentRuns)));
}
