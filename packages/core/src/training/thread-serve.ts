// The training thread's side of the protocol (thread-protocol.ts): serveTrainingThread() holds a
// replica of the model and computes the loss and gradients of the chunks of each batch it claims
// on the chunk board. The same code runs in a node:worker_threads thread (core's own worker script,
// thread-worker.ts, or one of the app's) and in a browser's module Web Worker (the app's script,
// TrainerOptions.workerScript). No Node built-in is imported: Node's are taken at call time.
import type * as NodeThreads from 'node:worker_threads';
import { selectBackend, type SelectBackendOptions } from '../backend.js';
import { MannError } from '../errors.js';
import { nodeBuiltin } from '../node-builtins.js';
import { createModel } from '../registry.js';
import { computeChunks } from './chunks.js';
import { trainableSizes } from './shards.js';
import {
  ChunkBoard,
  START_SEQ,
  ThreadMemory,
  type ThreadReply,
  type ThreadRequest,
  type ThreadStartData,
} from './thread-protocol.js';

/** Options of {@link serveTrainingThread}. */
export interface TrainingThreadOptions {
  /**
   * Options for `selectBackend` in this thread besides the backend, which is always the
   * trainer's: in a bundled page, the `wasmPaths` it serves TF.js's wasm files from.
   */
  readonly backend?: Omit<SelectBackendOptions, 'backend'>;
}

/** The global scope of a Web Worker, as far as this file uses it. */
interface WorkerScope {
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** Where requests arrive, and the hooks that report failures, in Node or in a Web Worker. */
interface Host {
  listen(handler: (request: ThreadRequest) => void): void;
  /** `report` returns false when it could not report (before the start): the host's default. */
  onFailure(report: (error: unknown) => boolean): void;
  onExit(report: () => void): void;
}

function host(): Host {
  const scope = globalThis as unknown as {
    process?: {
      getBuiltinModule?: unknown;
      on(event: string, listener: (...args: never[]) => void): void;
    };
    WorkerGlobalScope?: abstract new () => unknown;
  };
  if (typeof scope.process?.getBuiltinModule === 'function') {
    const threads = nodeBuiltin<typeof NodeThreads>('node:worker_threads', 'serveTrainingThread()');
    const port = threads.parentPort;
    if (threads.isMainThread || !port) throw notInThread();
    const processObject = scope.process;
    return {
      listen: (handler) => port.on('message', handler),
      onFailure(report) {
        // Unreported, the error ends the thread (a throw in the handler), which the trainer sees.
        const handle = (error: unknown): void => {
          if (!report(error)) throw error;
        };
        processObject.on('uncaughtException', handle);
        processObject.on('unhandledRejection', handle);
      },
      onExit: (report) => processObject.on('exit', report),
    };
  }
  if (
    typeof scope.WorkerGlobalScope === 'function' &&
    globalThis instanceof scope.WorkerGlobalScope
  ) {
    const self = globalThis as unknown as WorkerScope;
    return {
      listen: (handler) =>
        self.addEventListener('message', (event: { data: ThreadRequest }) => handler(event.data)),
      onFailure(report) {
        self.addEventListener(
          'error',
          (event: { error?: unknown; message?: string; preventDefault(): void }) => {
            // Unreported, the error goes on to the trainer's Worker object as an error event.
            if (report(event.error ?? event.message)) event.preventDefault();
          },
        );
        self.addEventListener(
          'unhandledrejection',
          (event: { reason: unknown; preventDefault(): void }) => {
            if (report(event.reason)) event.preventDefault();
          },
        );
      },
      onExit: () => undefined, // a Web Worker has no exit hook; the trainer terminates it
    };
  }
  throw notInThread();
}

const notInThread = (): MannError =>
  new MannError(
    'serveTrainingThread() serves a training thread: call it in the worker script a Trainer with workers > 1 starts (TrainerOptions.workerScript: a Web Worker, or a node:worker_threads thread), not on the main thread',
  );

/**
 * Serves a training thread: call it once, at the top level of the worker script given as
 * {@link TrainerOptions.workerScript} (after importing the packages or plugins that register the
 * model types the trainer uses, as the trainer's thread did). It waits for the trainer's start
 * message, selects the trainer's backend, imports `workerModules`, rebuilds the model from its
 * config, says it is ready, then, for every batch it is sent, claims chunks of it until none is
 * left and computes their loss and gradients.
 * Errors, thrown or uncaught, fail the trainer's step with their message.
 *
 * ```ts
 * // training-thread.ts, started by the trainer's worker with
 * // workerScript: () => new Worker(new URL('./training-thread.ts', import.meta.url), { type: 'module' })
 * import '@mann/ntm';
 * import { serveTrainingThread } from '@mann/core';
 * serveTrainingThread({ backend: { wasmPaths } });
 * ```
 *
 * @throws MannError on a thread that no trainer started (a page's or Node's main thread).
 */
export function serveTrainingThread(options: TrainingThreadOptions = {}): void {
  const where = host();
  let memory: ThreadMemory | undefined;
  let index = 0;
  let current = START_SEQ;
  let step: ((request: Extract<ThreadRequest, { type: 'step' }>) => void) | undefined;

  const answer = (reply: ThreadReply): void => memory?.answer(index, reply);
  /** Reports `error` as the answer to the current request; false before the start message. */
  const fail = (error: unknown): boolean => {
    if (!memory) return false;
    const e = error instanceof Error ? error : new Error(String(error));
    answer({
      type: 'error',
      seq: current,
      message: e.message,
      ...(e.stack ? { stack: e.stack } : {}),
    });
    return true;
  };
  where.onFailure(fail);
  where.onExit(() => memory?.exited(index));
  where.listen((request) => {
    if (request.type === 'start') {
      memory = new ThreadMemory(request.data.memory, request.data.threads - 1);
      index = request.data.index;
      current = START_SEQ;
      start(request.data, options).then((serve) => {
        step = serve;
        answer({ type: 'ready', seq: START_SEQ });
      }, fail);
      return;
    }
    current = request.seq;
    try {
      if (!step) throw new MannError(`step ${request.seq} requested before the thread was ready`);
      step(request);
    } catch (error) {
      fail(error);
    }
  });
}

/** Everything that can fail at the start: imports, backend, model; returns the step function. */
async function start(
  data: ThreadStartData,
  options: TrainingThreadOptions,
): Promise<(request: Extract<ThreadRequest, { type: 'step' }>) => void> {
  for (const specifier of data.modules) {
    const module = (await import(/* @vite-ignore */ specifier)) as {
      register?: unknown;
      default?: { register?: unknown };
    };
    const register = module.register ?? module.default?.register;
    if (typeof register === 'function') await (register as () => unknown)();
  }
  await selectBackend({ ...options.backend, backend: data.backend });
  const model = createModel(data.config);
  const mine = model.parameters.entries().map(([name, v]) => `${name} [${v.shape.join(', ')}]`);
  const theirs = data.layout.map((p) => `${p.name} [${p.shape.join(', ')}]`);
  if (mine.join() !== theirs.join()) {
    throw new MannError(
      `the model rebuilt from its config in this thread has parameters ${mine.join(', ')}; the main thread's has ${theirs.join(', ')}`,
    );
  }
  const gradientSize = trainableSizes(model).reduce((a, b) => a + b, 0);
  const board = new ChunkBoard(data.board, data.boardChunks, gradientSize);
  const parameters = new Float32Array(data.parameters);
  const memory = new ThreadMemory(data.memory, data.threads - 1);
  const loadParameters = (): void => {
    const values: Record<string, { shape: readonly number[]; values: Float32Array }> = {};
    let offset = 0;
    for (const { name, shape } of data.layout) {
      const size = shape.reduce((a, b) => a * b, 1);
      values[name] = { shape, values: parameters.slice(offset, offset + size) };
      offset += size;
    }
    model.parameters.load(values);
  };
  return (request) => {
    Atomics.load(memory.status, 0); // orders the main thread's parameter writes before the reads
    computeChunks(model, board, request, data.index + 1, parameters, loadParameters);
    memory.answer(data.index, { type: 'done', seq: request.seq });
  };
}
