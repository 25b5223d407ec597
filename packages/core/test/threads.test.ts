import { existsSync, readdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BatchSource,
  createModel,
  MannError,
  type RecurrentModel,
  Rng,
  selectBackend,
  type SequenceBatch,
  Trainer,
  trainingThreadsFor,
  type TrainerOptions,
  TrainingSession,
  type TrainStepResult,
} from '@mann/core';
import {
  CHUNKS_PER_THREAD,
  MIN_SPLIT_ROWS,
  chunkRanges,
  combineShards,
  shardLossAndGradients,
  shardRanges,
  sliceBatch,
  tfjsShardLoss,
} from '../src/training/shards.js';
import { withBackend } from '@mann/core/testing';
import { copyBatch, expectBitwiseEqual, expectClose } from './helpers.js';
import {
  MAIN_FAILURE,
  mainThreadRuns,
  register as registerProbe,
  THREAD_FAILURE,
  // @ts-expect-error: a plain-JS plugin module (no declarations), as users write them
} from './fixtures/thread-probe-plugin.mjs';

const PLUGIN = fileURLToPath(new URL('./fixtures/thread-probe-plugin.mjs', import.meta.url));

let directory = '';
beforeAll(async () => {
  await selectBackend();
  (registerProbe as () => void)();
  directory = await mkdtemp(join(tmpdir(), 'mann-threads-test-'));
});
afterAll(async () => {
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** OS threads of this process (Linux), or undefined where /proc is missing. */
const osThreads = (): number | undefined =>
  existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : undefined;

const tinyModel = (type = 'lstm', extra: Record<string, unknown> = {}): RecurrentModel =>
  createModel({ type, inputSize: 5, outputSize: 4, hiddenSizes: [6], ...extra }, { seed: 7 });

function batches(count: number, batchSize: number, seed = 3): SequenceBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => copyBatch(rng, batchSize));
}

/** Trains a fresh tiny model on `data`; returns the step results and the final parameters. */
async function train(
  data: readonly SequenceBatch[],
  options: TrainerOptions,
): Promise<{ results: TrainStepResult[]; parameters: Float32Array[] }> {
  const model = tinyModel();
  const trainer = new Trainer(model, options);
  try {
    const results = data.map((batch) => trainer.trainStep(batch));
    const parameters = model.parameters
      .entries()
      .map(([, v]) => v.dataSync().slice() as Float32Array);
    return { results, parameters };
  } finally {
    trainer.dispose();
    model.dispose();
    await trainer.close();
  }
}

describe('shards', () => {
  it('splits a batch into contiguous shards whose sizes differ by at most one', () => {
    expect(shardRanges(16, 2)).toEqual([
      { start: 0, end: 8 },
      { start: 8, end: 16 },
    ]);
    expect(shardRanges(7, 3)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 5 },
      { start: 5, end: 7 },
    ]);
    // more threads than sequences: one sequence each, the rest idle
    expect(shardRanges(2, 4)).toEqual([
      { start: 0, end: 1 },
      { start: 1, end: 2 },
    ]);
  });

  it('cuts a batch into chunks for the threads: two each when both keep MIN_SPLIT_ROWS, else one', () => {
    expect(CHUNKS_PER_THREAD).toBe(2);
    expect(MIN_SPLIT_ROWS).toBe(8);
    const sizes = (batchSize: number, threads: number): number[] =>
      chunkRanges(batchSize, threads).map((r) => r.end - r.start);
    expect(chunkRanges(16, 1)).toEqual([{ start: 0, end: 16 }]);
    expect(chunkRanges(64, 1)).toEqual([{ start: 0, end: 64 }]);
    // one chunk per thread below 2 x 8 rows a thread
    expect(sizes(16, 2)).toEqual([8, 8]);
    expect(sizes(31, 2)).toEqual([16, 15]);
    expect(sizes(5, 2)).toEqual([3, 2]);
    expect(sizes(4, 3)).toEqual([2, 1, 1]);
    expect(sizes(2, 3)).toEqual([1, 1]);
    // two from 2 x 8 rows a thread on
    expect(sizes(32, 2)).toEqual([8, 8, 8, 8]);
    expect(sizes(33, 2)).toEqual([9, 8, 8, 8]);
    expect(chunkRanges(48, 3)).toEqual(shardRanges(48, 6));
    expect(chunkRanges(47, 3)).toEqual(shardRanges(47, 3));
  });

  it('trains a batch on one thread per chunk, at most the workers, one with a single sequence', () => {
    expect(trainingThreadsFor(2, 16)).toBe(2);
    expect(trainingThreadsFor(2, 32)).toBe(2); // four chunks, two threads
    expect(trainingThreadsFor(8, 4)).toBe(4);
    expect(trainingThreadsFor(3, 2)).toBe(2);
    expect(trainingThreadsFor(4, 1)).toBe(1);
    expect(trainingThreadsFor(1, 16)).toBe(1);
  });

  it('slices the rows of a batch', () => {
    const [batch] = batches(1, 3) as [SequenceBatch];
    const shard = sliceBatch(batch, { start: 1, end: 3 });
    const { steps: t, inputWidth: i, outputWidth: o } = batch;
    expect(shard.batchSize).toBe(2);
    expectBitwiseEqual(shard.inputs, batch.inputs.subarray(t * i), 'inputs');
    expectBitwiseEqual(shard.targets, batch.targets.subarray(t * o), 'targets');
    expectBitwiseEqual(shard.mask, batch.mask.subarray(t), 'mask');
  });

  it("computes a chunk on the model's arrays where it can, else loads the variables once for TF.js", () => {
    const [batch] = batches(1, 3) as [SequenceBatch];
    const model = createModel({ type: 'lstm', inputSize: 5, outputSize: 4 }, { seed: 2 });
    const size = model.parameters.count();
    const parameters = new Float32Array(size);
    let arrays: number | undefined = 1.5; // what the stub's array path answers
    const stub: RecurrentModel = Object.assign(Object.create(model) as RecurrentModel, {
      lossAndGradientsOnArrays(b: SequenceBatch, p: Float32Array, g: Float32Array) {
        expect(b).toBe(batch);
        expect(p).toBe(parameters);
        if (arrays !== undefined) g.fill(7);
        return arrays;
      },
    });
    let loads = 0;
    const load = (): void => void loads++;
    const gradient = new Float32Array(size);
    expect(shardLossAndGradients(stub, batch, gradient, parameters, load)).toBe(1.5);
    expect(loads).toBe(0);
    expect(gradient.every((g) => g === 7)).toBe(true);
    // no array path for this configuration, or no parameter values: the variables and TF.js
    const expected = new Float32Array(size);
    const loss = tfjsShardLoss(model, batch, expected);
    arrays = undefined;
    expect(shardLossAndGradients(stub, batch, gradient, parameters, load)).toBe(loss);
    expect(loads).toBe(1);
    expectBitwiseEqual(gradient, expected, 'gradient');
    gradient.fill(0);
    arrays = 1.5;
    expect(shardLossAndGradients(stub, batch, gradient)).toBe(loss);
    expectBitwiseEqual(gradient, expected, 'gradient without parameters');
    model.dispose();
  });

  it('weights shard means by shard size (hand-computed)', () => {
    // batch of 3: shard 0 has 2 sequences (mean loss 1, gradient [2, 4]), shard 1 one (4, [5, -1])
    const into = new Float32Array(2);
    const { loss, sumOfSquares } = combineShards(
      [1, 4],
      [Float32Array.of(2, 4), Float32Array.of(5, -1)],
      [2, 1],
      into,
    );
    expect(loss).toBeCloseTo((2 * 1 + 4) / 3, 12);
    expectClose(into, [(2 * 2 + 5) / 3, (2 * 4 - 1) / 3], 1e-7, 'gradient');
    expect(sumOfSquares).toBeCloseTo(3 ** 2 + (7 / 3) ** 2, 6);
  });
  it('sums in shard order in float64, rounding once (2 to 9 shards, bit for bit)', () => {
    const rng = new Rng(5);
    for (const sizes of [
      [5],
      [3, 2],
      [2, 2, 1],
      [1, 1, 1, 1],
      [2, 1, 1, 1, 1],
      [3, 3, 2, 2, 2, 2, 2, 2, 2],
    ]) {
      const gradients = sizes.map(() => Float32Array.from({ length: 97 }, () => rng.normal()));
      const losses = sizes.map(() => rng.uniform());
      const total = sizes.reduce((a, b) => a + b, 0);
      const expected = new Float32Array(97).map((_, i) => {
        let sum = 0;
        sizes.forEach((size, k) => (sum += (size / total) * (gradients[k]![i] as number)));
        return sum;
      });
      const into = new Float32Array(97);
      const { sumOfSquares } = combineShards(losses, gradients, sizes, into);
      expectBitwiseEqual(into, expected, `shards ${sizes.join(', ')}`);
      // the sum of squares of the float32 values, in index order, as clipFlatGradients sums it
      let squares = 0;
      for (const value of into) squares += value * value;
      expect(sumOfSquares, `sum of squares, shards ${sizes.join(', ')}`).toBe(squares);
    }
  });
});

describe('Trainer with worker threads', () => {
  it('matches one thread in loss, gradient norm and parameters after several steps', async () => {
    const data = batches(4, 5); // 5 sequences: uneven shards for 2 and 3 threads
    for (const clip of [{}, { clipNorm: 0.05 }, { clipGradientValue: 0.01, clipNorm: 0 }]) {
      const one = await train(data, clip);
      for (const workers of Object.keys(clip).length === 0 ? [2, 3] : [2]) {
        const many = await train(data, { ...clip, workers });
        const label = `${workers} threads, ${JSON.stringify(clip)}`;
        expectClose(
          many.results.map((r) => r.bitsPerSequence),
          one.results.map((r) => r.bitsPerSequence),
          1e-5,
          `${label}: loss`,
        );
        expectClose(
          many.results.map((r) => r.gradNorm),
          one.results.map((r) => r.gradNorm),
          1e-5,
          `${label}: gradient norm`,
        );
        many.parameters.forEach((p, k) =>
          expectClose(p, one.parameters[k] as Float32Array, 1e-5, `${label}: parameter ${k}`),
        );
      }
    }
  });

  it('is deterministic for a given thread count', async () => {
    const data = batches(3, 4);
    const a = await train(data, { workers: 2 });
    const b = await train(data, { workers: 2 });
    a.parameters.forEach((p, k) => expectBitwiseEqual(p, b.parameters[k] as Float32Array));
    expect(a.results).toEqual(b.results);
  });

  it('leaks no tensors on the main thread and leaves no thread running', async () => {
    const before = osThreads();
    const model = tinyModel();
    const trainer = new Trainer(model, { workers: 2 });
    const [first, ...rest] = batches(4, 4);
    trainer.trainStep(first as SequenceBatch); // creates the optimizer slots
    const tensors = tf.memory().numTensors;
    for (const batch of rest) trainer.trainStep(batch);
    expect(tf.memory().numTensors).toBe(tensors);
    trainer.dispose();
    model.dispose();
    await trainer.close(); // resolves once every thread's 'exit' event has fired
    if (before !== undefined) expect(osThreads()).toBeLessThanOrEqual(before);
  });

  it('hands chunks to whichever thread is free: a slow thread computes fewer, the result is the same', async () => {
    const data = batches(3, 32); // 4 chunks of 8 per step
    const run = async (
      slowInThread: number,
    ): Promise<{ parameters: Float32Array[]; mainChunks: number[] }> => {
      const model = tinyModel('thread-probe', { slowInThread });
      const trainer = new Trainer(model, { workers: 2, workerModules: [PLUGIN] });
      try {
        const mainChunks = data.map((batch) => {
          const before = mainThreadRuns.count as number;
          trainer.trainStep(batch);
          return (mainThreadRuns.count as number) - before;
        });
        // the trainer's own count agrees with the model's
        const counted = mainChunks.reduce((a, b) => a + b, 0);
        expect(trainer.threadChunks).toEqual([counted, 4 * data.length - counted]);
        // and the time each thread spent on its chunks: a second a chunk on the slowed one
        const [mine, theirs] = trainer.threadChunkMillis as [number, number];
        const [myChunks, theirChunks] = trainer.threadChunks as [number, number];
        expect(mine).toBeGreaterThan(0);
        if (slowInThread > 0) {
          expect(theirs).toBeGreaterThanOrEqual(slowInThread * theirChunks);
          expect(mine / myChunks).toBeLessThan(slowInThread / 2);
        } else {
          expect(theirs).toBeGreaterThan(0);
        }
        const parameters = model.parameters.entries().map(([, v]) => v.dataSync().slice());
        return { parameters: parameters as Float32Array[], mainChunks };
      } finally {
        trainer.dispose();
        model.dispose();
        await trainer.close();
      }
    };
    const slowed = await run(1000);
    // the other thread takes a second per chunk: it claims one at most, this thread the rest
    for (const chunks of slowed.mainChunks) expect(chunks).toBeGreaterThanOrEqual(3);
    const even = await run(0);
    // the same chunks summed in the same order, whoever computed them: bit for bit
    even.parameters.forEach((p, k) =>
      expectBitwiseEqual(p, slowed.parameters[k] as Float32Array, `parameter ${k}`),
    );
  });

  it('fails the step with the error thrown on this thread once the others are done', async () => {
    const model = tinyModel('thread-probe', {
      failInMain: true,
      slowInMain: 100,
      slowInThread: 500,
    });
    const trainer = new Trainer(model, { workers: 2, workerModules: [PLUGIN] });
    const tensors = tf.memory().numTensors;
    const [batch] = batches(1, 4);
    await trainer.startThreads();
    const t0 = Date.now();
    expect(() => trainer.trainStep(batch as SequenceBatch)).toThrow(MAIN_FAILURE as string);
    // the other thread claimed a chunk (500 ms) while this one failed (after 100 ms): the step
    // failed only once that chunk was done
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(trainer.step).toBe(0);
    expect(tf.memory().numTensors).toBe(tensors);
    await trainer.close();
    trainer.dispose();
    model.dispose();
  });

  it('fails the step with the error thrown in a thread, and stops every thread', async () => {
    // this thread is slowed down so that the others surely claim chunks
    const model = tinyModel('thread-probe', { failInThread: true, slowInMain: 500 });
    const trainer = new Trainer(model, { workers: 3, workerModules: [PLUGIN] });
    const tensors = tf.memory().numTensors;
    const [batch] = batches(1, 4);
    expect(() => trainer.trainStep(batch as SequenceBatch)).toThrow(THREAD_FAILURE as string);
    expect(trainer.step).toBe(0);
    expect(tf.memory().numTensors).toBe(tensors);
    await trainer.close();
    trainer.dispose();
    model.dispose();
  });

  it('fails the step when a thread exits in the middle of it', async () => {
    const model = tinyModel('thread-probe', { failInThread: 'exit', slowInMain: 500 });
    const trainer = new Trainer(model, { workers: 2, workerModules: [PLUGIN] });
    const [batch] = batches(1, 4);
    expect(() => trainer.trainStep(batch as SequenceBatch)).toThrow(
      'training thread 2 of 2 exited unexpectedly',
    );
    expect(trainer.step).toBe(0);
    await trainer.close();
    trainer.dispose();
    model.dispose();
  });

  it('reports a thread that cannot build the model (plugin module not given)', async () => {
    const model = tinyModel('thread-probe');
    const trainer = new Trainer(model, { workers: 2 });
    const [batch] = batches(1, 4);
    expect(() => trainer.trainStep(batch as SequenceBatch)).toThrow(
      /training thread 2 of 2 could not start: unknown model type 'thread-probe'/,
    );
    await trainer.close();
    // a plugin model trains on threads once its module is imported there
    const fixed = new Trainer(model, { workers: 2, workerModules: [PLUGIN] });
    expect(fixed.trainStep(batch as SequenceBatch).skipped).toBe(false);
    fixed.dispose();
    model.dispose();
    await fixed.close();
  });

  it('skips a non-finite step as one thread does', async () => {
    const [good, bad] = batches(2, 4) as [SequenceBatch, SequenceBatch];
    const inputs = bad.inputs.slice();
    inputs[inputs.length - 1] = Number.NaN; // in the last sequence, whichever thread computes it
    const poisoned = { ...bad, inputs };
    const one = await train([good, poisoned, good], {});
    const two = await train([good, poisoned, good], { workers: 2 });
    expect(two.results.map((r) => r.skipped)).toEqual([false, true, false]);
    expect(two.results.map((r) => r.skipped)).toEqual(one.results.map((r) => r.skipped));
    expect(Number.isNaN(two.results[1]?.gradNorm)).toBe(true);
    two.parameters.forEach((p, k) =>
      expectClose(p, one.parameters[k] as Float32Array, 1e-5, `parameter ${k}`),
    );
  });

  it('resumes from a checkpoint bitwise with threads', async () => {
    const sample: BatchSource = (rng, size) => copyBatch(rng, size);
    const path = join(directory, 'threads.ckpt');
    const session = new TrainingSession({
      model: tinyModel(),
      sample,
      batchSize: 5,
      dataSeed: 11,
      trainerOptions: { workers: 2 },
    });
    session.trainUntil(3);
    await session.save(path);
    session.trainUntil(6);
    const uninterrupted = session.model.parameters.entries().map(([, v]) => v.dataSync().slice());
    session.dispose();
    const { session: resumed } = await TrainingSession.resume(path, sample, { workers: 2 });
    expect(resumed.trainer.workers).toBe(2);
    resumed.trainUntil(6);
    resumed.model.parameters
      .entries()
      .forEach(([name, v], k) =>
        expectBitwiseEqual(v.dataSync(), uninterrupted[k] as Float32Array, name),
      );
    resumed.dispose();
    await Promise.all([session.trainer.close(), resumed.trainer.close()]);
  });

  it('runs the threads on the backend of the main thread', async () => {
    const model = tinyModel('thread-probe', { failInThread: 'backend', slowInMain: 500 });
    const [batch] = batches(1, 2);
    for (const backend of ['cpu', 'wasm'] as const) {
      await withBackend(backend, async () => {
        const trainer = new Trainer(model, { workers: 2, workerModules: [PLUGIN] });
        expect(() => trainer.trainStep(batch as SequenceBatch)).toThrow(
          `thread backend: ${backend}`,
        );
        await trainer.close();
      });
    }
    model.dispose();
  });

  it('starts threads in a process run with V8 flags (inherited, or dropped with @mann/source)', async () => {
    // A worker refuses V8 flags given as its execArgv (--max-old-space-size, --expose-gc): the
    // threads inherit them, or drop them when they are started with the flags of this process
    // without its @mann/source condition. The script trains one step on 2 threads and 1.
    const core = new URL('../dist/index.js', import.meta.url).href;
    const script = join(directory, 'flags.mjs');
    await writeFile(
      script,
      `import { createModel, selectBackend, Trainer } from ${JSON.stringify(core)};
await selectBackend({ backend: 'cpu' });
const [batch] = JSON.parse(process.argv[2]);
for (const key of ['inputs', 'targets', 'mask']) batch[key] = Float32Array.from(batch[key]);
const losses = [];
for (const workers of [2, 1]) {
  const model = createModel({ type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes: [6] }, { seed: 7 });
  const trainer = new Trainer(model, { workers });
  losses.push(trainer.trainStep(batch).bitsPerSequence);
  await trainer.close();
}
console.log(JSON.stringify({ losses, gc: typeof globalThis.gc }));
`,
    );
    const data = JSON.stringify(
      batches(1, 4).map((b) => ({
        ...b,
        inputs: [...b.inputs],
        targets: [...b.targets],
        mask: [...b.mask],
      })),
    );
    const run = (flags: string[]): Promise<{ losses: number[]; gc: string }> =>
      new Promise((resolve, reject) =>
        execFile(
          process.execPath,
          [...flags, script, data],
          { timeout: 60_000 },
          (error, stdout, stderr) =>
            error
              ? reject(new Error(`${error.message}\n${stderr}`))
              : resolve(JSON.parse(stdout) as { losses: number[]; gc: string }),
        ),
      );
    const v8 = ['--max-old-space-size=512', '--expose-gc'];
    const [inherited, dropped] = await Promise.all([
      run(v8),
      run(['--conditions=@mann/source', ...v8]),
    ]);
    for (const { losses, gc } of [inherited, dropped]) {
      expect(gc).toBe('function');
      expect(losses[0]).toBeGreaterThan(0);
      expect(Math.abs((losses[0] as number) - (losses[1] as number))).toBeLessThan(1e-5);
    }
  });

  it('starts at most one thread per chunk of the first batch; the results do not depend on it', async () => {
    // batches of 2 then 4: 2 chunks, then 4, for any count of 4 or more (one sequence each)
    const [small, ...large] = [...batches(1, 2), ...batches(2, 4, 5)];
    const run = async (
      startAll: boolean,
    ): Promise<{ results: TrainStepResult[]; parameters: Float32Array[]; threads: number[] }> => {
      const model = tinyModel();
      const trainer = new Trainer(model, { workers: 5 });
      try {
        if (startAll) await trainer.startThreads();
        const before = osThreads();
        const results = [trainer.trainStep(small as SequenceBatch)];
        const threads = [trainer.threadChunks.length];
        const during = osThreads();
        // without startThreads, the first step started one helper thread (one OS thread)
        if (before !== undefined && during !== undefined && !startAll) {
          expect(during - before).toBe(1);
        }
        for (const batch of large) results.push(trainer.trainStep(batch));
        threads.push(trainer.threadChunks.length);
        const parameters = model.parameters
          .entries()
          .map(([, v]) => v.dataSync().slice() as Float32Array);
        return { results, parameters, threads };
      } finally {
        trainer.dispose();
        model.dispose();
        await trainer.close();
      }
    };
    const fewer = await run(false);
    const all = await run(true);
    expect(fewer.threads).toEqual([2, 2]); // the larger batches ran on the 2 threads started
    expect(all.threads).toEqual([5, 5]);
    expect(fewer.results).toEqual(all.results);
    fewer.parameters.forEach((p, k) => expectBitwiseEqual(p, all.parameters[k] as Float32Array));
  });

  it('starts no thread with one worker', async () => {
    const before = osThreads();
    const model = tinyModel();
    const trainer = new Trainer(model, { workers: 1 });
    trainer.trainStep(batches(1, 4)[0] as SequenceBatch);
    expect(trainer.threadChunks).toEqual([]);
    if (before !== undefined) expect(osThreads()).toBe(before);
    trainer.dispose();
    model.dispose();
  });

  it('rejects a bad thread count or module list, naming the option', () => {
    const model = tinyModel();
    expect(() => new Trainer(model, { workers: 0 })).toThrow(MannError);
    expect(() => new Trainer(model, { workers: 0 })).toThrow(/workers must be/);
    expect(() => new Trainer(model, { workers: 1.5 })).toThrow(/workers must be/);
    expect(() => new Trainer(model, { workerModules: [''] })).toThrow(/workerModules must be/);
    model.dispose();
  });
});
