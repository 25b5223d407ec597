import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  Trainer,
  createLayer,
  createModel,
  type RecurrentModel,
  type SequenceBatch,
  type TrainerOptions,
} from '@mann/core';
import { createTask } from '@mann/tasks';

/** The workload of issue 7: copy at length 20, batch 16, 8 bits (T = 41 steps in this encoding). */
export const PERF_BATCH_SIZE = 16;
export const PERF_COPY_LENGTH = 20;

/** One model under measurement: something that does one full training step. */
export interface Contender {
  readonly label: string;
  /** One training step: forward, backward, clipping, optimizer update, loss read back. */
  step(): Promise<void>;
  /** Training threads only: the chunks each thread has computed so far (the trainer's first). */
  threadChunks?(): readonly number[];
  /** Training threads only: the milliseconds each thread has spent on those chunks. */
  threadChunkMillis?(): readonly number[];
  dispose(): void;
  /** Training threads only: resolves once they have exited (after dispose). */
  closed?(): Promise<void>;
  /** Untimed steps before the timed ones, if not {@link measure}'s `warmup`. */
  readonly warmup?: number;
}

/** Timings of one contender. */
export interface PerfResult {
  readonly label: string;
  readonly sequencesPerSecond: number;
  readonly msPerStep: { readonly median: number; readonly min: number; readonly max: number };
  /**
   * CPU time of the whole process per step (every thread, median): it depends much less than the
   * wall time on what else the machine runs, so it shows the work a step costs.
   */
  readonly cpuMsPerStep: number;
  readonly kernelsPerStep: number;
  /** sequences/s divided by the peer's. */
  readonly ratioToPeer: number | null;
  /**
   * Training threads only: the chunks of a batch each thread computed per timed step, on average
   * (the trainer's thread first); a thread that its core slows down computes fewer.
   */
  readonly chunksPerStep?: readonly number[];
  /**
   * Training threads only: the milliseconds a chunk took on each thread over the timed steps
   * (the trainer's thread first; null for a thread that computed none): longer on a thread whose
   * core other work slows down, or whose code is not yet fully optimised.
   */
  readonly chunkMsByThread?: readonly (number | null)[];
}

/** A fixed copy batch of the perf workload. */
export function perfBatch(length = PERF_COPY_LENGTH, batchSize = PERF_BATCH_SIZE): SequenceBatch {
  const task = createTask('copy', { bits: 8, minLength: length, maxLength: length });
  return task.sample(new Rng(7), batchSize);
}

/**
 * The peer: `tf.layers.lstm` with 100 units and a time-distributed dense sigmoid output of 8,
 * trained with `trainOnBatch` (Adam, binary cross-entropy) on the same shapes.
 */
export function peerContender(batch: SequenceBatch): Contender {
  const model = tf.sequential();
  model.add(
    tf.layers.lstm({
      units: 100,
      returnSequences: true,
      inputShape: [batch.steps, batch.inputWidth],
    }),
  );
  model.add(
    tf.layers.timeDistributed({
      layer: tf.layers.dense({ units: batch.outputWidth, activation: 'sigmoid' }),
    }),
  );
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  const x = tf.tensor3d(batch.inputs, [batch.batchSize, batch.steps, batch.inputWidth]);
  const y = tf.tensor3d(batch.targets, [batch.batchSize, batch.steps, batch.outputWidth]);
  return {
    label: 'peer: tf.layers.lstm(100)',
    async step() {
      await model.trainOnBatch(x, y);
    },
    dispose() {
      x.dispose();
      y.dispose();
      model.dispose();
    },
  };
}

/**
 * One of our models, trained by the core Trainer (Adam 1e-3, global-norm clip 50), on
 * `threading.workers` threads (default 1; the threads start at the first step).
 */
export function modelContender(
  label: string,
  config: Record<string, unknown> & { type: string },
  batch: SequenceBatch,
  threading: Pick<TrainerOptions, 'workers' | 'workerModules'> = {},
): Contender & { model: RecurrentModel } {
  const model = createModel(
    { ...config, inputSize: batch.inputWidth, outputSize: batch.outputWidth },
    { seed: 1 },
  );
  const trainer = new Trainer(model, {
    optimizer: { kind: 'adam', learningRate: 1e-3 },
    clipNorm: 50,
    ...threading,
  });
  return {
    label,
    model,
    async step() {
      trainer.trainStep(batch);
    },
    threadChunks: () => trainer.threadChunks,
    threadChunkMillis: () => trainer.threadChunkMillis,
    dispose() {
      trainer.dispose();
      model.dispose();
    },
    closed: () => trainer.close(),
  };
}

/**
 * The same model as a TF.js layer (`createLayer`: `NtmLayer`, `DncLayer`, ...) in a
 * `tf.sequential` with a dense sigmoid output, trained by `model.fit` (one epoch of one batch
 * per step; Adam 1e-3, binary cross-entropy, no gradient clipping) on the same batch.
 */
export function layersContender(
  label: string,
  config: Record<string, unknown> & { type: string },
  batch: SequenceBatch,
): Contender & { model: tf.Sequential } {
  const { type, ...options } = config;
  const model = tf.sequential({
    layers: [
      createLayer({
        ...options,
        type,
        units: batch.outputWidth,
        seed: 1,
        returnSequences: true,
        inputShape: [batch.steps, batch.inputWidth],
      }),
      tf.layers.dense({ units: batch.outputWidth, activation: 'sigmoid' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  const x = tf.tensor3d(batch.inputs, [batch.batchSize, batch.steps, batch.inputWidth]);
  const y = tf.tensor3d(batch.targets, [batch.batchSize, batch.steps, batch.outputWidth]);
  return {
    label,
    model,
    async step() {
      await model.fit(x, y, { epochs: 1, batchSize: batch.batchSize, verbose: 0 });
    },
    dispose() {
      x.dispose();
      y.dispose();
      model.dispose();
    },
  };
}

/** Products per calibration thread and step (~10-20 ms on one core here). */
export const CALIBRATION_ROUNDS = 100;

/** The calibration thread's script (from the TypeScript sources, its copy in `dist/`). */
function calibrationScript(): URL {
  return new URL(
    import.meta.url.endsWith('.ts')
      ? import.meta.url.replace(/\/src\/perf\/measure\.ts$/, '/dist/perf/calibration-thread.js')
      : './calibration-thread.js',
    import.meta.url,
  );
}

/**
 * The machine itself, for scale: each step runs the same fixed amount of independent work on
 * each of `threads` threads at once (SIMD matrix products like a training step's, nothing
 * shared, nothing to wait for but the slowest; `calibration-thread.ts`). With `threads` free
 * cores a step takes as long on N threads as on 1; N x (time on 1) / (time on N) is the
 * speed-up this machine gives N threads of perfectly parallel kernel work at that moment.
 */
export function machineContender(
  threads: number,
  rounds = CALIBRATION_ROUNDS,
): Contender & { readonly replies: readonly number[] } {
  const workers = Array.from({ length: threads }, () => {
    // no flags of this process (under the tests', packages would resolve to their sources)
    const worker = new Worker(calibrationScript(), { execArgv: [] });
    worker.unref();
    return worker;
  });
  const run = (worker: Worker): Promise<number> =>
    new Promise((resolve, reject) => {
      const done = (check: number): void => {
        worker.off('error', failed);
        resolve(check);
      };
      const failed = (error: Error): void => {
        worker.off('message', done);
        reject(error);
      };
      worker.once('message', done);
      worker.once('error', failed);
      worker.postMessage(rounds);
    });
  let replies: number[] = [];
  return {
    label: `machine: independent work on ${threads} thread${threads === 1 ? '' : 's'}`,
    async step() {
      replies = await Promise.all(workers.map(run));
    },
    /** Each thread's checksum of its products in the last step (the same work: equal sums). */
    get replies() {
      return replies;
    },
    dispose() {
      for (const worker of workers) void worker.terminate();
    },
  };
}

/** Kernels launched by one step (counted with tf.profile, outside the timed steps). */
export async function countKernels(contender: Contender): Promise<number> {
  const info = await tf.profile(async () => {
    await contender.step();
    return [];
  });
  return info.kernels.length;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * Times `repeats` steps of every contender, alternating between them step by step so that
 * machine noise falls on all alike, after `warmup` untimed steps each (or the contender's own
 * {@link Contender.warmup}). The first contender is the peer the ratios refer to.
 */
export async function measure(
  contenders: readonly Contender[],
  options: {
    repeats: number;
    warmup: number;
    batchSize: number;
    onProgress?: (message: string) => void;
  },
): Promise<PerfResult[]> {
  for (const c of contenders) {
    for (let i = 0; i < (c.warmup ?? options.warmup); i++) await c.step();
  }
  const times = contenders.map(() => [] as number[]);
  const cpuTimes = contenders.map(() => [] as number[]);
  const chunksBefore = contenders.map((c) => c.threadChunks?.() ?? []);
  const millisBefore = contenders.map((c) => c.threadChunkMillis?.() ?? []);
  for (let r = 0; r < options.repeats; r++) {
    for (const [i, c] of contenders.entries()) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await c.step();
      (times[i] as number[]).push(performance.now() - t0);
      const cpu = process.cpuUsage(cpu0);
      (cpuTimes[i] as number[]).push((cpu.user + cpu.system) / 1000);
    }
    options.onProgress?.(`perf: round ${r + 1}/${options.repeats}`);
  }
  // chunks and chunk milliseconds of each thread over the timed steps
  const chunks = contenders.map((c, i) =>
    (c.threadChunks?.() ?? []).map((count, thread) => count - (chunksBefore[i]?.[thread] ?? 0)),
  );
  const chunksPerStep = chunks.map((counts) => counts.map((n) => n / options.repeats));
  const chunkMs = contenders.map((c, i) =>
    (c.threadChunkMillis?.() ?? []).map((ms, thread) => {
      const n = chunks[i]?.[thread] ?? 0;
      return n > 0 ? (ms - (millisBefore[i]?.[thread] ?? 0)) / n : null;
    }),
  );
  const kernels: number[] = [];
  for (const c of contenders) kernels.push(await countKernels(c));
  const results = contenders.map((c, i) => {
    const t = times[i] as number[];
    const med = median(t);
    return {
      label: c.label,
      sequencesPerSecond: (options.batchSize * 1000) / med,
      msPerStep: { median: med, min: Math.min(...t), max: Math.max(...t) },
      cpuMsPerStep: median(cpuTimes[i] as number[]),
      kernelsPerStep: kernels[i] as number,
      ratioToPeer: null as number | null,
      ...((chunksPerStep[i] ?? []).length > 0 ? { chunksPerStep: chunksPerStep[i] } : {}),
      ...((chunkMs[i] ?? []).length > 0 ? { chunkMsByThread: chunkMs[i] } : {}),
    };
  });
  const peer = results[0];
  return results.map((r) => ({
    ...r,
    ratioToPeer: peer ? r.sequencesPerSecond / peer.sequencesPerSecond : null,
  }));
}
