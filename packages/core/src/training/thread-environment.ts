import { MannError } from '../errors.js';

/** What decides whether training threads can run here (see {@link checkThreadEnvironment}). */
export interface ThreadEnvironment {
  /** Node >= 20.16 (`process.getBuiltinModule`), where the threads are `node:worker_threads`. */
  readonly node: boolean;
  /** The global `crossOriginIsolated` of a browser page or worker; undefined outside browsers. */
  readonly crossOriginIsolated: boolean | undefined;
  /**
   * Whether this code runs in a Web Worker (`WorkerGlobalScope`), where `Atomics.wait` is
   * allowed; false on a page's main thread; undefined outside browsers.
   */
  readonly worker?: boolean | undefined;
}

/** The environment this code runs in. */
export function currentThreadEnvironment(): ThreadEnvironment {
  const scope = globalThis as {
    process?: { getBuiltinModule?: unknown };
    crossOriginIsolated?: unknown;
    WorkerGlobalScope?: unknown;
    document?: unknown;
  };
  const workerScope = scope.WorkerGlobalScope;
  return {
    node: typeof scope.process?.getBuiltinModule === 'function',
    crossOriginIsolated:
      typeof scope.crossOriginIsolated === 'boolean' ? scope.crossOriginIsolated : undefined,
    worker:
      typeof workerScope === 'function'
        ? globalThis instanceof (workerScope as abstract new () => unknown)
        : scope.document !== undefined
          ? false
          : undefined,
  };
}

/**
 * Throws a MannError, naming `workers`, when `workers` > 1 threads cannot run in `environment`.
 * Node runs them anywhere (`node:worker_threads`). A browser needs: `SharedArrayBuffer` and
 * `Atomics`, which it only gives a cross-origin isolated page (served with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`);
 * the trainer in a Web Worker, since each step blocks on `Atomics.wait`, which a page's main
 * thread may not call; and a `workerScript` for the threads. `workers: 1` runs anywhere.
 */
export function checkThreadEnvironment(
  workers: number,
  environment: ThreadEnvironment = currentThreadEnvironment(),
  workerScript?: unknown,
): void {
  if (workers <= 1 || environment.node) return;
  if (environment.crossOriginIsolated !== true) {
    throw new MannError(
      `workers: ${workers} needs SharedArrayBuffer and Atomics, which a browser only gives a cross-origin isolated page (crossOriginIsolated is ${String(environment.crossOriginIsolated)}): serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp, or train with workers: 1`,
    );
  }
  if (environment.worker !== true) {
    throw new MannError(
      `workers: ${workers} needs the Trainer to run in a Web Worker: each step waits for the training threads with Atomics.wait, which a page's main thread may not call; build the Trainer in a worker (new Worker(url, { type: 'module' })), or train with workers: 1`,
    );
  }
  if (workerScript === undefined) {
    throw new MannError(
      `workers: ${workers} in a browser needs workerScript: a module worker script that imports the packages of the model's type and calls serveTrainingThread() from @mann/core (a bundled worker cannot import the package names of workerModules), e.g. () => new Worker(new URL('./training-thread.ts', import.meta.url), { type: 'module' }); or train with workers: 1`,
    );
  }
}
