import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import type * as NodeUrl from 'node:url';
import type * as NodeThreads from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { RecurrentModel } from '../interfaces.js';
import { validateBatch, type SequenceBatch } from '../data.js';
import { BACKENDS, type BackendName } from '../backend.js';
import { MannError } from '../errors.js';
import { nodeBuiltin } from '../node-builtins.js';
import { CHUNKS_PER_THREAD, chunkRanges, combineShards, trainableSizes } from './shards.js';
import { computeChunks } from './chunks.js';
import {
  ChunkBoard,
  START_SEQ,
  ThreadMemory,
  type ThreadReply,
  type ThreadRequest,
  type ThreadStartData,
} from './thread-protocol.js';

/**
 * The part of a worker the trainer uses: a browser's `Worker` (an EventTarget: `error` events)
 * or Node's `node:worker_threads` `Worker` (an EventEmitter: `error` and `exit` events).
 */
export interface ThreadWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

/**
 * The script of the training threads ({@link TrainerOptions.workerScript}): its URL (a string or
 * a URL; in Node also a file path), or a function that starts one worker on it, the form bundlers
 * recognise: `() => new Worker(new URL('./thread.ts', import.meta.url), { type: 'module' })`.
 */
export type WorkerScript = string | URL | (() => ThreadWorker);

/** How long a thread may take to start (import, backend, model) before the start fails. */
export const THREAD_START_TIMEOUT_MS = 60_000;

/** The Node modules the threads need (taken at call time: no Node built-in on the main entry). */
function nodeModules(): {
  fs: typeof NodeFs;
  path: typeof NodePath;
  url: typeof NodeUrl;
  threads: typeof NodeThreads;
} {
  const what = 'training threads (workers > 1) without workerScript';
  const instead = 'give workerScript or train with workers: 1';
  return {
    fs: nodeBuiltin<typeof NodeFs>('node:fs', what, instead),
    path: nodeBuiltin<typeof NodePath>('node:path', what, instead),
    url: nodeBuiltin<typeof NodeUrl>('node:url', what, instead),
    threads: nodeBuiltin<typeof NodeThreads>('node:worker_threads', what, instead),
  };
}

const isNodeHere = (): boolean =>
  typeof (globalThis as { process?: { getBuiltinModule?: unknown } }).process?.getBuiltinModule ===
  'function';

/**
 * Core's own worker script (Node). From the TypeScript sources (tests), the threads run the
 * compiled copy in `dist/`: Node cannot start a worker on a `.ts` file.
 */
function defaultScript(): URL {
  const { fs, url: urls } = nodeModules();
  const here = import.meta.url;
  const url = here.endsWith('.ts')
    ? new URL(here.replace(/\/src\/training\/[^/]+\.ts$/, '/dist/training/thread-worker.js'))
    : new URL('./thread-worker.js', here);
  if (!fs.existsSync(urls.fileURLToPath(url))) {
    throw new MannError(
      `the training threads need the compiled worker script ${urls.fileURLToPath(url)}; build @mann/core first (npm run build)`,
    );
  }
  return url;
}

/**
 * Node flags for the threads: undefined (they inherit this process's, V8 flags included) unless
 * this process runs with the `@mann/source` export condition (set when running from the
 * TypeScript sources), which the threads must not have: packages resolve to their compiled
 * `dist/` in the threads, as the worker script does. Then they are this process's flags without
 * it (see {@link startNodeWorker} for the V8 flags among them).
 */
function workerExecArgv(): string[] | undefined {
  const args: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if ((arg === '--conditions' || arg === '-C') && argv[i + 1] === SOURCE_CONDITION) i++;
    else if (arg !== `--conditions=${SOURCE_CONDITION}` && arg !== `-C=${SOURCE_CONDITION}`)
      args.push(arg);
  }
  return args.length === argv.length ? undefined : args;
}

type NodeWorkerClass = typeof NodeThreads.Worker;

/**
 * Starts a Node worker on `url` with `flags` (undefined: inherited). A worker refuses V8 and
 * per-process flags given explicitly (`--max-old-space-size`, `--expose-gc`: they are the whole
 * process's, its threads' too, already): those the refusal names are dropped and the start is
 * tried again. Returns the worker and the flags it started with, for the next one.
 */
function startNodeWorker(
  Worker: NodeWorkerClass,
  url: URL,
  flags: string[] | undefined,
): { worker: ThreadWorker; flags: string[] | undefined } {
  if (flags === undefined) return { worker: new Worker(url) as unknown as ThreadWorker, flags };
  try {
    return { worker: new Worker(url, { execArgv: flags }) as unknown as ThreadWorker, flags };
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const refused = /flags: (.*)$/.exec(String(message))?.[1]?.split(', ');
    if (code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || !refused) throw error;
    const kept = flags.filter((f) => !refused.includes(f));
    return { worker: new Worker(url, { execArgv: kept }) as unknown as ThreadWorker, flags: kept };
  }
}

const SOURCE_CONDITION = '@mann/source';

/** A plugin path becomes a file URL (resolved against the working directory); names stay. */
function moduleUrl(specifier: string): string {
  const { path, url } = nodeModules();
  const looksLikePath =
    specifier.startsWith('.') || path.isAbsolute(specifier) || /\.(m?js|cjs)$/.test(specifier);
  return looksLikePath && !specifier.startsWith('file:')
    ? url.pathToFileURL(path.resolve(specifier)).href
    : specifier;
}

/** A Node `workerScript` given as a path or URL: a file URL to a file that exists. */
function nodeScript(script: string | URL): URL {
  const { fs, url } = nodeModules();
  const resolved = new URL(typeof script === 'string' ? moduleUrl(script) : script.href);
  if (resolved.protocol === 'file:' && !fs.existsSync(url.fileURLToPath(resolved))) {
    throw new MannError(
      `workerScript ${String(script)} does not exist (${url.fileURLToPath(resolved)})`,
    );
  }
  return resolved;
}

/** One started thread: its worker, what its events said, and when it has exited. */
interface Handle {
  readonly worker: ThreadWorker;
  /** What an `error` or `exit` event said (seen only while this thread is not blocked). */
  failure: string | undefined;
  readonly exited: Promise<void>;
  terminate(): void;
}

type Listen = (event: string, listener: (value: unknown) => void) => unknown;

/** Watches a worker's events (EventEmitter or EventTarget); `changed` is called on each. */
function watch(worker: ThreadWorker, changed: () => void): Handle {
  let done = (): void => undefined;
  const exited = new Promise<void>((resolve) => (done = resolve));
  let terminated = false;
  const handle: Handle = {
    worker,
    failure: undefined,
    exited,
    terminate() {
      terminated = true;
      const result = worker.terminate();
      // A Web Worker stops at once and has no exit event; Node's resolves when it has exited.
      if (!(result instanceof Promise)) done();
      else result.then(done, done);
    },
  };
  const failed = (message: string): void => {
    handle.failure ??= message;
    changed();
  };
  const emitter = worker as unknown as { on?: Listen; once?: Listen; unref?: () => void };
  const target = worker as unknown as { addEventListener?: Listen };
  if (typeof emitter.on === 'function') {
    emitter.on.call(worker, 'error', (error) =>
      failed(error instanceof Error ? error.message : String(error)),
    );
    emitter.on.call(worker, 'exit', (code) => {
      if (!terminated) failed(`it exited (code ${String(code)})`);
      done();
    });
    emitter.unref?.call(worker);
  } else if (typeof target.addEventListener === 'function') {
    target.addEventListener.call(worker, 'error', (event) => {
      const e = event as { message?: unknown; preventDefault?: () => void };
      e.preventDefault?.();
      failed(
        typeof e.message === 'string' && e.message
          ? e.message
          : 'its script failed to load or threw (see the console)',
      );
    });
    target.addEventListener.call(worker, 'messageerror', () =>
      failed('it could not read a message'),
    );
  }
  return handle;
}

/** Options of {@link TrainingThreads}. */
export interface TrainingThreadsOptions {
  /** Modules each thread imports before building the model ({@link TrainerOptions.workerModules}). */
  readonly modules?: readonly string[];
  /** The threads' script ({@link TrainerOptions.workerScript}); default core's (Node only). */
  readonly script?: WorkerScript;
  /** Default {@link THREAD_START_TIMEOUT_MS}. */
  readonly startTimeoutMs?: number;
  /**
   * The threads to run, this one included: at most the thread count, which alone decides how a
   * batch is cut ({@link chunkRanges}), so the results do not depend on this. Default: the
   * thread count. Fewer when the batches have fewer chunks than that: a thread beyond the
   * chunks of a batch would never get one.
   */
  readonly running?: number;
}

/**
 * Synchronous data-parallel loss and gradients over `threads` threads: this thread and
 * `threads - 1` training threads (node:worker_threads in Node, Web Workers in browsers), each
 * holding a replica of the model (rebuilt from its config there). For each batch this thread
 * writes every parameter into shared memory, posts every thread the batch and its chunks, claims
 * and computes chunks itself like the others (the chunk board, thread-protocol.ts), then blocks on
 * the threads' status words (`Atomics.wait`) and combines the chunks' losses and gradients from
 * shared memory in chunk order. Replies travel through shared
 * memory only (thread-protocol.ts), so the same code serves Node and browsers. The threads are
 * started at construction; they answer 'ready' to {@link TrainingThreads.start} (waits without
 * blocking: in a browser a thread cannot finish starting while its parent blocks) or to
 * {@link TrainingThreads.startBlocking}. Internal to {@link Trainer}.
 */
export class TrainingThreads {
  private readonly handles: Handle[] = [];
  /** Threads running, this one included ({@link TrainingThreadsOptions.running}). */
  readonly running: number;
  private readonly memory: ThreadMemory;
  private readonly parameters: Float32Array;
  private readonly board: ChunkBoard;
  private readonly chunkCounts: number[];
  private readonly chunkMillis: number[];
  private readonly gradientSize: number;
  /** The summed gradient {@link TrainingThreads.lossAndGradients} returns, reused step to step. */
  private readonly sum: Float32Array;
  private readonly startTimeoutMs: number;
  private readonly scriptGiven: boolean;
  private seq = START_SEQ;
  private closed = false;
  private isReady = false;
  private starting: Promise<void> | undefined;

  constructor(
    private readonly model: RecurrentModel,
    readonly threads: number,
    options: TrainingThreadsOptions = {},
  ) {
    this.running = Math.max(1, Math.min(threads, options.running ?? threads));
    const helpers = this.running - 1;
    this.startTimeoutMs = options.startTimeoutMs ?? THREAD_START_TIMEOUT_MS;
    this.scriptGiven = options.script !== undefined;
    const entries = model.parameters.entries();
    const parameterSize = entries.reduce((n, [, v]) => n + v.size, 0);
    this.gradientSize = trainableSizes(model).reduce((a, b) => a + b, 0);
    this.sum = new Float32Array(this.gradientSize);
    this.memory = ThreadMemory.create(helpers);
    this.parameters = new Float32Array(new SharedArrayBuffer(4 * parameterSize));
    this.board = ChunkBoard.create(CHUNKS_PER_THREAD * threads, this.gradientSize);
    this.chunkCounts = new Array<number>(this.running).fill(0);
    this.chunkMillis = new Array<number>(this.running).fill(0);
    const backend = tf.getBackend();
    if (!(BACKENDS as readonly string[]).includes(backend)) {
      throw new MannError(
        `training threads need a backend they can select (${BACKENDS.join(', ')}); this thread runs '${backend}'`,
      );
    }
    const node = isNodeHere();
    const modules = (options.modules ?? []).map((m) => (node ? moduleUrl(m) : m));
    const spawn = this.spawner(options.script, node);
    try {
      for (let index = 0; index < helpers; index++) {
        const handle = watch(spawn(index), () => this.memory.wake(index));
        this.handles.push(handle);
        const data: ThreadStartData = {
          index,
          threads: this.running,
          memory: this.memory.buffer,
          parameters: this.parameters.buffer as SharedArrayBuffer,
          board: this.board.buffer,
          boardChunks: this.board.chunks,
          layout: entries.map(([name, v]) => ({ name, shape: [...v.shape] })),
          config: model.config,
          modules,
          backend: backend as BackendName,
        };
        handle.worker.postMessage({ type: 'start', data } satisfies ThreadRequest);
      }
    } catch (error) {
      void this.close();
      throw error;
    }
  }

  /** A function that starts thread `index` (0-based among the helpers) on the script. */
  private spawner(
    script: WorkerScript | undefined,
    node: boolean,
  ): (index: number) => ThreadWorker {
    if (typeof script === 'function') {
      return () => {
        const worker = script();
        if (
          typeof (worker as { postMessage?: unknown } | null)?.postMessage !== 'function' ||
          typeof (worker as { terminate?: unknown }).terminate !== 'function'
        ) {
          throw new MannError(
            `workerScript must start a worker (an object with postMessage and terminate), returned ${String(worker)}`,
          );
        }
        return worker;
      };
    }
    if (node) {
      const url = script === undefined ? defaultScript() : nodeScript(script);
      const { Worker } = nodeModules().threads;
      let flags = workerExecArgv();
      return () => {
        const started = startNodeWorker(Worker, url, flags);
        flags = started.flags;
        return started.worker;
      };
    }
    const WebWorker = (
      globalThis as {
        Worker?: new (url: string | URL, options: { type: 'module'; name: string }) => ThreadWorker;
      }
    ).Worker;
    if (script === undefined || typeof WebWorker !== 'function') {
      throw new MannError(
        script === undefined
          ? `workers: ${this.threads} outside Node needs workerScript (a module worker script that calls serveTrainingThread())`
          : `workers: ${this.threads} needs Web Workers (Worker), which this environment lacks`,
      );
    }
    return (index) =>
      new WebWorker(script, {
        type: 'module',
        name: `mann training thread ${index + 2} of ${this.running}`,
      });
  }

  /** Chunks each thread has computed in the steps that did not fail (this thread's first). */
  get chunksComputed(): readonly number[] {
    return [...this.chunkCounts];
  }

  /**
   * Milliseconds each thread has spent computing those chunks (this thread's first), from the
   * start of each chunk's slicing to its gradient written: with {@link chunksComputed}, the
   * time a chunk takes on each thread.
   */
  get chunkTimes(): readonly number[] {
    return [...this.chunkMillis];
  }

  /** Whether every thread has answered 'ready'. */
  get ready(): boolean {
    return this.isReady;
  }

  private name(index: number): string {
    return `training thread ${index + 2} of ${this.running}`;
  }

  /** Throws the MannError for a start reply that is not 'ready'. */
  private checkStart(
    index: number,
    reply: ThreadReply | 'exited' | { readonly interrupted: string } | undefined,
  ): void {
    const name = this.name(index);
    if (reply === undefined) {
      const hint = this.scriptGiven ? '; does workerScript call serveTrainingThread()?' : '';
      throw new MannError(
        `${name} could not start: it did not answer within ${this.startTimeoutMs / 1000} s${hint}`,
      );
    }
    if (reply === 'exited') throw new MannError(`${name} exited unexpectedly (could not start)`);
    if ('interrupted' in reply)
      throw new MannError(`${name} could not start: ${reply.interrupted}`);
    if (reply.type === 'error') throw remoteError(`${name} could not start`, reply);
  }

  /**
   * Waits, without blocking this thread, until every thread is ready; the only way to start them
   * in a browser. Rejects with the first failing thread's error (threads in order).
   */
  start(): Promise<void> {
    this.starting ??= (async () => {
      for (let index = 0; index < this.handles.length; index++) {
        const handle = this.handles[index] as Handle;
        const reply = await this.memory.waitAsync(index, START_SEQ, this.startTimeoutMs, () =>
          this.closed ? 'the training threads were closed' : handle.failure,
        );
        this.checkStart(index, reply);
      }
      this.isReady = true;
    })();
    return this.starting;
  }

  /** Blocks until every thread is ready (Node, or a Web Worker whose threads have started). */
  startBlocking(): void {
    if (this.closed) throw new MannError('the training threads were closed');
    for (let index = 0; index < this.handles.length; index++) {
      const handle = this.handles[index] as Handle;
      const reply = this.memory.wait(index, START_SEQ, this.startTimeoutMs);
      this.checkStart(index, reply ?? (handle.failure ? { interrupted: handle.failure } : reply));
    }
    this.isReady = true;
  }

  /**
   * Masked bits per sequence of `batch` and its gradient (flat, `trainableEntries()` order),
   * computed over the threads, which must be ready: the batch is cut into chunks
   * ({@link chunkRanges}) that this thread and the others claim one at a time, and the chunks'
   * gradients are summed in chunk order. Returns once every thread has answered, so none is left
   * working on the step. The gradient array is this object's, overwritten by the next call;
   * `sumOfSquares` is that of its values ({@link combineShards}). Throws this thread's error,
   * else the first failing thread's (threads in order).
   */
  lossAndGradients(batch: SequenceBatch): {
    loss: number;
    gradients: Float32Array;
    sumOfSquares: number;
  } {
    if (this.closed) throw new MannError('the training threads were closed');
    if (!this.isReady) throw new MannError('the training threads have not started yet');
    validateBatch(batch);
    const seq = ++this.seq;
    let offset = 0;
    for (const [, v] of this.model.parameters.entries()) {
      this.parameters.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    // Publishes the parameter writes before the requests (Atomics order them).
    Atomics.store(this.memory.status, 0, seq);
    const chunks = chunkRanges(batch.batchSize, this.threads);
    const board = this.board;
    board.open(seq);
    const request: ThreadRequest = { type: 'step', seq, batch, chunks };
    for (const handle of this.handles) handle.worker.postMessage(request);
    let failure: { error: unknown } | undefined;
    try {
      computeChunks(this.model, board, request, 0, this.parameters);
    } catch (error) {
      board.close(seq);
      failure = { error };
    }
    // Every thread answers before this returns, failed or not: none may still be writing into
    // the board when the next step hands its chunks out.
    const replies = this.handles.map((_, index) => this.memory.wait(index, seq));
    if (failure) throw failure.error;
    for (const [index, reply] of replies.entries()) {
      const name = this.name(index);
      if (reply === 'exited') throw new MannError(`${name} exited unexpectedly (failed)`);
      if (reply?.type === 'error') throw remoteError(`${name} failed`, reply);
    }
    for (let k = 0; k < chunks.length; k++) {
      const owner = board.owner(k);
      (this.chunkCounts[owner] as number)++;
      (this.chunkMillis[owner] as number) += board.chunkMillis(k);
    }
    const { loss, sumOfSquares } = combineShards(
      chunks.map((_, k) => board.loss(k)),
      chunks.map((_, k) => board.gradient(k)),
      chunks.map((r) => r.end - r.start),
      this.sum,
    );
    return { loss, gradients: this.sum, sumOfSquares };
  }

  /** Stops every thread; resolves when all have exited. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const [index, handle] of this.handles.entries()) {
        handle.terminate();
        this.memory.wake(index);
      }
    }
    return Promise.all(this.handles.map((h) => h.exited)).then(() => undefined);
  }
}

/** A MannError `<what>: <message>` whose cause carries the thread's error and stack. */
function remoteError(what: string, reply: Extract<ThreadReply, { type: 'error' }>): MannError {
  const remote = new Error(reply.message);
  if (reply.stack) remote.stack = reply.stack;
  return new MannError(`${what}: ${reply.message}`, { cause: remote });
}
