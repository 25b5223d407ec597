import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import type * as NodeUrl from 'node:url';
import type * as NodeThreads from 'node:worker_threads';
import type { MessagePort, Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { RecurrentModel } from '../interfaces.js';
import { validateBatch, type SequenceBatch } from '../data.js';
import { BACKENDS, type BackendName } from '../backend.js';
import { MannError } from '../errors.js';
import { nodeBuiltin } from '../node-builtins.js';
import {
  combineShards,
  shardLossAndGradients,
  shardRanges,
  sliceBatch,
  type ShardRange,
  trainableSizes,
} from './shards.js';

/** The Node modules the threads need (taken at call time: no Node built-in on the main entry). */
function nodeModules(): {
  fs: typeof NodeFs;
  path: typeof NodePath;
  url: typeof NodeUrl;
  threads: typeof NodeThreads;
} {
  const what = 'training threads (workers > 1)';
  const instead = 'train with workers: 1';
  return {
    fs: nodeBuiltin<typeof NodeFs>('node:fs', what, instead),
    path: nodeBuiltin<typeof NodePath>('node:path', what, instead),
    url: nodeBuiltin<typeof NodeUrl>('node:url', what, instead),
    threads: nodeBuiltin<typeof NodeThreads>('node:worker_threads', what, instead),
  };
}
/** Value a thread stores in its status word when it exits. */
export const THREAD_EXITED = -1;

/** What the main thread tells a training thread when it starts it (`workerData`). */
export interface ThreadStartData {
  /** Index of the thread among the helper threads (0-based; it computes shard index + 1). */
  readonly index: number;
  /** Int32Array: [0] parameter version, [1 + index] the status word of thread `index`. */
  readonly status: SharedArrayBuffer;
  /** Float32Array of every parameter (`entries()` order), written by the main thread. */
  readonly parameters: SharedArrayBuffer;
  /** Float32Array, one block of every trainable gradient per thread. */
  readonly gradients: SharedArrayBuffer;
  /** Name and shape of every parameter, in `entries()` order. */
  readonly layout: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly config: RecurrentModel['config'];
  /** Module URLs or package names to import (and `register()`) before building the model. */
  readonly modules: readonly string[];
  readonly backend: BackendName;
  /** The thread answers here: {@link ThreadReply}. */
  readonly reply: MessagePort;
}

/** A request from the main thread: compute the loss and gradients of one shard. */
export interface ThreadRequest {
  readonly type: 'step';
  readonly seq: number;
  readonly shard: SequenceBatch;
}

/** A thread's answer; it then stores `seq` in its status word. */
export type ThreadReply =
  | { readonly type: 'ready'; readonly seq: number }
  | { readonly type: 'done'; readonly seq: number; readonly loss: number }
  | {
      readonly type: 'error';
      readonly seq: number;
      readonly message: string;
      readonly stack?: string;
    };

/**
 * The compiled worker script. From the TypeScript sources (tests), the threads run the compiled
 * copy in `dist/`: Node cannot start a worker on a `.ts` file.
 */
function workerScript(): URL {
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
 * Node flags for the threads: this process's, without the `@mann/source` export condition (set
 * when running from the TypeScript sources) so that packages resolve to their compiled `dist/`
 * in the threads, as the worker script does.
 */
function workerExecArgv(): string[] {
  const args: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if ((arg === '--conditions' || arg === '-C') && argv[i + 1] === SOURCE_CONDITION) i++;
    else if (arg !== `--conditions=${SOURCE_CONDITION}` && arg !== `-C=${SOURCE_CONDITION}`)
      args.push(arg);
  }
  return args;
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

/**
 * Synchronous data-parallel loss and gradients over `threads` threads: this thread and
 * `threads - 1` worker threads, each holding a replica of the model (rebuilt from its config in
 * the worker, after importing `modules` so plugin types are registered there too). For each batch
 * the main thread writes every parameter into shared memory, sends each worker its shard, computes
 * shard 0 itself, then blocks on the workers' status words (`Atomics.wait`) and combines the
 * shard gradients in a fixed order. Internal to {@link Trainer}.
 */
export class TrainingThreads {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly exits: Promise<void>[] = [];
  private readonly status: Int32Array;
  private readonly parameters: Float32Array;
  private readonly gradients: Float32Array;
  private readonly gradientSize: number;
  private seq = 1;
  private closed = false;

  constructor(
    private readonly model: RecurrentModel,
    readonly threads: number,
    modules: readonly string[],
  ) {
    const helpers = threads - 1;
    const entries = model.parameters.entries();
    const parameterSize = entries.reduce((n, [, v]) => n + v.size, 0);
    this.gradientSize = trainableSizes(model).reduce((a, b) => a + b, 0);
    this.status = new Int32Array(new SharedArrayBuffer(4 * (1 + helpers)));
    this.parameters = new Float32Array(new SharedArrayBuffer(4 * parameterSize));
    this.gradients = new Float32Array(new SharedArrayBuffer(4 * this.gradientSize * helpers));
    const backend = tf.getBackend();
    if (!(BACKENDS as readonly string[]).includes(backend)) {
      throw new MannError(
        `training threads need a backend they can select (${BACKENDS.join(', ')}); this thread runs '${backend}'`,
      );
    }
    const script = workerScript();
    const { MessageChannel, Worker } = nodeModules().threads;
    try {
      for (let index = 0; index < helpers; index++) {
        const { port1, port2 } = new MessageChannel();
        const data: ThreadStartData = {
          index,
          status: this.status.buffer as SharedArrayBuffer,
          parameters: this.parameters.buffer as SharedArrayBuffer,
          gradients: this.gradients.buffer as SharedArrayBuffer,
          layout: entries.map(([name, v]) => ({ name, shape: [...v.shape] })),
          config: model.config,
          modules: modules.map(moduleUrl),
          backend: backend as BackendName,
          reply: port2,
        };
        const worker = new Worker(script, {
          workerData: data,
          transferList: [port2],
          execArgv: workerExecArgv(),
        });
        // Exits are collected at once: after a blocking wait they may already have happened.
        this.exits.push(new Promise((done) => worker.once('exit', () => done())));
        // An 'error' event is also reported through the status word; keep it from crashing us.
        worker.on('error', () => undefined);
        worker.unref();
        port1.unref();
        this.workers.push(worker);
        this.ports.push(port1);
      }
      for (let index = 0; index < helpers; index++) this.expect(index, 1, 'could not start');
    } catch (error) {
      void this.close();
      throw error;
    }
  }

  /** Waits (blocking) for thread `index` to answer request `seq`; throws its error. */
  private expect(index: number, seq: number, what: string): ThreadReply {
    const slot = 1 + index;
    for (;;) {
      const value = Atomics.load(this.status, slot);
      if (value === seq || value === THREAD_EXITED) break;
      Atomics.wait(this.status, slot, value, 1000);
    }
    const port = this.ports[index] as MessagePort;
    let reply: ThreadReply | undefined;
    // Skip answers to earlier requests (there are none unless a request was abandoned).
    for (;;) {
      const received = nodeModules().threads.receiveMessageOnPort(port)?.message as
        ThreadReply | undefined;
      if (!received || received.seq === seq) {
        reply = received;
        break;
      }
    }
    const name = `training thread ${index + 2} of ${this.threads}`;
    if (!reply) throw new MannError(`${name} exited unexpectedly (${what})`);
    if (reply.type === 'error') {
      const remote = new Error(reply.message);
      if (reply.stack) remote.stack = reply.stack;
      throw new MannError(`${name} ${what}: ${reply.message}`, { cause: remote });
    }
    return reply;
  }

  /**
   * Masked bits per sequence of `batch` and its gradient (flat, `trainableEntries()` order),
   * computed over the threads. Throws the first failing thread's error (threads in order).
   */
  lossAndGradients(batch: SequenceBatch): { loss: number; gradients: Float32Array } {
    if (this.closed) throw new MannError('the training threads were closed');
    validateBatch(batch);
    const seq = ++this.seq;
    let offset = 0;
    for (const [, v] of this.model.parameters.entries()) {
      this.parameters.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    // Publishes the parameter writes before the requests (Atomics order them).
    Atomics.store(this.status, 0, seq);
    const ranges = shardRanges(batch.batchSize, this.threads);
    for (let k = 1; k < ranges.length; k++) {
      const request: ThreadRequest = {
        type: 'step',
        seq,
        shard: sliceBatch(batch, ranges[k] as ShardRange),
      };
      (this.workers[k - 1] as Worker).postMessage(request);
    }
    const local = new Float32Array(this.gradientSize);
    const losses = [
      shardLossAndGradients(this.model, sliceBatch(batch, ranges[0] as ShardRange), local),
    ];
    const gradients: Float32Array<ArrayBufferLike>[] = [local];
    for (let k = 1; k < ranges.length; k++) {
      const reply = this.expect(k - 1, seq, 'failed');
      losses.push((reply as Extract<ThreadReply, { type: 'done' }>).loss);
      gradients.push(this.gradients.subarray((k - 1) * this.gradientSize, k * this.gradientSize));
    }
    const sum = new Float32Array(this.gradientSize);
    const loss = combineShards(
      losses,
      gradients,
      ranges.map((r) => r.end - r.start),
      sum,
    );
    return { loss, gradients: sum };
  }

  /** Stops every thread; resolves when all have exited. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const worker of this.workers) void worker.terminate();
      for (const port of this.ports) port.close();
    }
    return Promise.all(this.exits).then(() => undefined);
  }
}
