import { MannError } from '../errors.js';

/** What decides whether training threads can run here (see {@link checkThreadEnvironment}). */
export interface ThreadEnvironment {
  /** Node >= 20.16 (`process.getBuiltinModule`), where the threads are `node:worker_threads`. */
  readonly node: boolean;
  /** The global `crossOriginIsolated` of a browser page or worker; undefined outside browsers. */
  readonly crossOriginIsolated: boolean | undefined;
}

/** The environment this code runs in. */
export function currentThreadEnvironment(): ThreadEnvironment {
  const scope = globalThis as {
    process?: { getBuiltinModule?: unknown };
    crossOriginIsolated?: unknown;
  };
  return {
    node: typeof scope.process?.getBuiltinModule === 'function',
    crossOriginIsolated:
      typeof scope.crossOriginIsolated === 'boolean' ? scope.crossOriginIsolated : undefined,
  };
}

/**
 * Throws a MannError, naming `workers`, when `workers` > 1 threads cannot run in `environment`:
 * outside Node the threads need `SharedArrayBuffer` and `Atomics.wait`, which a browser only
 * gives a cross-origin isolated page (served with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`), and they are only implemented over
 * `node:worker_threads` so far. `workers: 1` runs anywhere.
 */
export function checkThreadEnvironment(
  workers: number,
  environment: ThreadEnvironment = currentThreadEnvironment(),
): void {
  if (workers <= 1 || environment.node) return;
  if (environment.crossOriginIsolated !== true) {
    throw new MannError(
      `workers: ${workers} needs SharedArrayBuffer and Atomics, which a browser only gives a cross-origin isolated page (crossOriginIsolated is ${String(environment.crossOriginIsolated)}): serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp, or train with workers: 1`,
    );
  }
  throw new MannError(
    `workers: ${workers} is not available in the browser yet (training threads run on node:worker_threads, in Node >= 20.16); train with workers: 1`,
  );
}
