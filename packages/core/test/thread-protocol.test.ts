import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createModel,
  MannError,
  type RecurrentModel,
  Rng,
  selectBackend,
  serveTrainingThread,
  type SequenceBatch,
  Trainer,
  type TrainerOptions,
} from '@mann/core';
import {
  ChunkBoard,
  REPLY_TEXT_BYTES,
  THREAD_EXITED,
  ThreadMemory,
} from '../src/training/thread-protocol.js';
import { TrainingThreads } from '../src/training/threads.js';
import { CHUNKS_PER_THREAD } from '../src/training/shards.js';
import { MAX_TRAINING_THREADS } from '../src/training/trainer.js';
import { copyBatch, expectBitwiseEqual, expectClose } from './helpers.js';
// @ts-expect-error: a plain-JS plugin module (no declarations), as users write them
import { register as registerProbe } from './fixtures/thread-probe-plugin.mjs';

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

beforeAll(async () => {
  await selectBackend();
  (registerProbe as () => void)();
});

describe('ThreadMemory (the replies in shared memory)', () => {
  it('carries ready, done and error (message and stack) per thread', () => {
    const memory = ThreadMemory.create(3);
    expect(memory.read(0, 1)).toBeUndefined(); // nothing answered yet
    memory.answer(0, { type: 'ready', seq: 1 });
    memory.answer(1, { type: 'done', seq: 7 });
    memory.answer(2, { type: 'error', seq: 7, message: 'boom ü', stack: 'Error: boom ü\n  at x' });
    expect(memory.read(0, 1)).toEqual({ type: 'ready', seq: 1 });
    expect(memory.read(1, 7)).toEqual({ type: 'done', seq: 7 });
    expect(memory.read(2, 7)).toEqual({
      type: 'error',
      seq: 7,
      message: 'boom ü',
      stack: 'Error: boom ü\n  at x',
    });
    // an answer to another request is not this one's
    expect(memory.read(1, 8)).toBeUndefined();
    expect(memory.read(0, 2)).toBeUndefined();
    memory.exited(1);
    expect(Atomics.load(memory.status, 2)).toBe(THREAD_EXITED);
    expect(memory.read(1, 8)).toBe('exited');
    // the other threads' replies are untouched
    expect(memory.read(2, 7)).toMatchObject({ message: 'boom ü' });
  });

  it('cuts long error text at a whole character, message first', () => {
    const memory = ThreadMemory.create(2);
    const long = 'é'.repeat(REPLY_TEXT_BYTES); // 2 bytes each: twice the room
    memory.answer(1, { type: 'error', seq: 2, message: long, stack: 'never fits' });
    const reply = memory.read(1, 2);
    expect(reply).toEqual({ type: 'error', seq: 2, message: 'é'.repeat(REPLY_TEXT_BYTES / 2) });
    // an odd room: the last character that does not fit whole is left out
    memory.answer(1, { type: 'error', seq: 3, message: `x${long}` });
    expect(memory.read(1, 3)).toEqual({
      type: 'error',
      seq: 3,
      message: `x${'é'.repeat(REPLY_TEXT_BYTES / 2 - 1)}`,
    });
    // a short message leaves the rest of the room to the stack
    memory.answer(1, { type: 'error', seq: 4, message: 'short', stack: 's'.repeat(5000) });
    const cut = memory.read(1, 4) as { message: string; stack: string };
    expect(cut.message).toBe('short');
    expect(cut.stack).toBe('s'.repeat(REPLY_TEXT_BYTES - 5));
    // thread 0's room is its own
    expect(memory.read(0, 4)).toBeUndefined();
  });

  it('views memory of the right size only', () => {
    expect(() => new ThreadMemory(new SharedArrayBuffer(16), 2)).toThrow(
      /thread reply memory for 2 threads has 16 bytes, expected \d+/,
    );
  });

  it('waits blocking until an answer or the timeout', () => {
    const memory = ThreadMemory.create(1);
    const t0 = Date.now();
    expect(memory.wait(0, 2, 120)).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    memory.answer(0, { type: 'done', seq: 2 });
    expect(memory.wait(0, 2, 120)).toEqual({ type: 'done', seq: 2 });
  });

  it('waits blocking for an answer written by another thread', async () => {
    const memory = ThreadMemory.create(1);
    // A raw thread: writes the reply kind and then the status word, as ThreadMemory.answer does.
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const status = new Int32Array(workerData, 0, 2);
       setTimeout(() => {
         new Int32Array(workerData, 8, 3)[0] = 1; // kind 'done'
         Atomics.store(status, 1, 5);
         Atomics.notify(status, 1);
       }, 200);`,
      { eval: true, workerData: memory.buffer },
    );
    try {
      expect(memory.wait(0, 5, 30_000)).toEqual({ type: 'done', seq: 5 });
    } finally {
      await worker.terminate();
    }
  });

  it('waits without blocking: for an answer, an interruption or the timeout', async () => {
    const memory = ThreadMemory.create(2);
    setTimeout(() => memory.answer(1, { type: 'ready', seq: 1 }), 50);
    expect(await memory.waitAsync(1, 1, 5000)).toEqual({ type: 'ready', seq: 1 });
    let reason: string | undefined;
    setTimeout(() => {
      reason = 'it exited (code 1)';
      memory.wake(0);
    }, 50);
    expect(await memory.waitAsync(0, 1, 5000, () => reason)).toEqual({
      interrupted: 'it exited (code 1)',
    });
    expect(await memory.waitAsync(0, 1, 80)).toBeUndefined();
  });
});

describe('ChunkBoard (the chunks of a step in shared memory)', () => {
  it('hands out each chunk of the open step once, in order, and none of another step', () => {
    const board = ChunkBoard.create(4, 3);
    expect(board.claim(1, 4, 0)).toBe(-1); // nothing open yet
    board.open(7);
    expect([2, 0, 1].map((owner) => board.claim(7, 3, owner))).toEqual([0, 1, 2]);
    expect([0, 1, 2].map((k) => board.owner(k))).toEqual([2, 0, 1]); // who claimed what
    expect(board.claim(7, 3, 0)).toBe(-1);
    board.open(8);
    expect(board.claim(7, 3, 0)).toBe(-1); // a thread still on step 7 gets nothing of step 8
    expect(board.claim(8, 4, 0)).toBe(0);
    board.close(8);
    expect(board.claim(8, 4, 0)).toBe(-1); // closed: the rest is never handed out
    // sequence numbers past the claim word's 22 bits wrap around
    for (const seq of [2 ** 21, 2 ** 22 - 1, 2 ** 31 - 1]) {
      board.open(seq);
      expect(board.claim(seq, 2, 0)).toBe(0);
      expect(board.claim(seq - 1, 2, 0)).toBe(-1);
      expect(board.claim(seq, 2, 0)).toBe(1);
      expect(board.claim(seq, 2, 0)).toBe(-1);
    }
  });

  it('keeps each chunk its own loss and gradient', () => {
    const board = ChunkBoard.create(3, 5);
    for (let k = 0; k < 3; k++) {
      board.gradient(k).fill(k + 1);
      board.setLoss(k, 0.1 * (k + 1) + 1e-12);
    }
    for (let k = 0; k < 3; k++) {
      expect([...board.gradient(k)]).toEqual([k + 1, k + 1, k + 1, k + 1, k + 1]);
      expect(board.loss(k)).toBe(0.1 * (k + 1) + 1e-12); // float64
    }
    const view = new ChunkBoard(board.buffer, 3, 5);
    expect(view.loss(2)).toBe(board.loss(2));
    expect(() => new ChunkBoard(board.buffer, 3, 6)).toThrow(
      /chunk board for 3 chunks of 6 gradients has \d+ bytes, expected \d+/,
    );
    expect(() => ChunkBoard.create(1024, 1)).toThrow(/at most 1023 chunks/);
    // room for the chunks of the most threads a trainer takes
    expect(ChunkBoard.create(CHUNKS_PER_THREAD * MAX_TRAINING_THREADS, 1).chunks).toBe(512);
  });

  it('gives every chunk to exactly one of several threads claiming at once, naming it', async () => {
    const chunks = 200;
    const board = ChunkBoard.create(chunks, 1);
    const claims = new Int32Array(new SharedArrayBuffer(4 * chunks));
    const protocol = new URL('../dist/training/thread-protocol.js', import.meta.url).href;
    board.open(3);
    // three threads (owners 1-3) and this one (0) claim until none is left, each counting the
    // claims of a chunk
    const workers = [1, 2, 3].map(
      (owner) =>
        new Worker(
          `const { workerData, parentPort } = require('node:worker_threads');
           import(workerData.protocol).then(({ ChunkBoard }) => {
             const { owner, chunks } = workerData;
             const board = new ChunkBoard(workerData.board, chunks, 1);
             const claims = new Int32Array(workerData.claims);
             const mine = [];
             for (let k = board.claim(3, chunks, owner); k >= 0; k = board.claim(3, chunks, owner)) {
               Atomics.add(claims, k, 1);
               mine.push(k);
             }
             parentPort.postMessage(mine);
           });`,
          {
            eval: true,
            workerData: { protocol, board: board.buffer, claims: claims.buffer, chunks, owner },
          },
        ),
    );
    const mine: number[] = [];
    for (let k = board.claim(3, chunks, 0); k >= 0; k = board.claim(3, chunks, 0)) {
      Atomics.add(claims, k, 1);
      mine.push(k);
    }
    const theirs = await Promise.all(
      workers.map((w) => new Promise<number[]>((resolve) => w.once('message', resolve))),
    );
    await Promise.all(workers.map((w) => w.terminate()));
    // each chunk claimed exactly once, and the board names the thread that got it
    expect([...claims]).toEqual(new Array<number>(chunks).fill(1));
    [mine, ...theirs].forEach((got, owner) => {
      for (const k of got) expect(board.owner(k)).toBe(owner);
    });
  });
});

const tinyModel = (type = 'lstm'): RecurrentModel =>
  createModel({ type, inputSize: 5, outputSize: 4, hiddenSizes: [6] }, { seed: 7 });

function batches(count: number, batchSize: number, seed = 3): SequenceBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => copyBatch(rng, batchSize));
}

async function train(
  type: string,
  data: readonly SequenceBatch[],
  options: TrainerOptions,
  asyncStart: boolean,
): Promise<{ losses: number[]; parameters: Float32Array[] }> {
  const model = tinyModel(type);
  const trainer = new Trainer(model, options);
  try {
    if (asyncStart) await trainer.startThreads();
    const losses = data.map((batch) => trainer.trainStep(batch).bitsPerSequence);
    const parameters = model.parameters.entries().map(([, v]) => v.dataSync().slice());
    return { losses, parameters: parameters as Float32Array[] };
  } finally {
    trainer.dispose();
    model.dispose();
    await trainer.close();
  }
}

describe('the threads on an app script (workerScript) and the async start', () => {
  it("trains a plugin's model on threads whose script registers it, as one thread does", async () => {
    const data = batches(3, 5);
    const one = await train('thread-probe', data, {}, false);
    // the script as a URL, started with startThreads(); as a function starting the worker
    const script = fixture('serve-thread.mjs');
    const byUrl = await train('thread-probe', data, { workers: 2, workerScript: script }, true);
    const byFunction = await train(
      'thread-probe',
      data,
      // (a worker of the app's: without this process's `@mann/source` condition, which would
      // resolve @mann/core to its TypeScript sources in the thread)
      { workers: 2, workerScript: () => new Worker(script, { execArgv: [] }) },
      false,
    );
    expectClose(byUrl.losses, one.losses, 1e-5, 'loss');
    byUrl.parameters.forEach((p, k) =>
      expectClose(p, one.parameters[k] as Float32Array, 1e-5, `parameter ${k}`),
    );
    // the same thread count on the same script: bitwise the same
    expect(byFunction.losses).toEqual(byUrl.losses);
    byFunction.parameters.forEach((p, k) => expectBitwiseEqual(p, byUrl.parameters[k]!));
  });

  it('startThreads() does nothing with one worker, and a started trainer steps at once', async () => {
    const model = tinyModel();
    const single = new Trainer(model);
    await single.startThreads();
    expect(single.trainStep(batches(1, 4)[0]!).skipped).toBe(false);
    single.dispose();
    const trainer = new Trainer(model, { workers: 2 });
    await Promise.all([trainer.startThreads(), trainer.startThreads()]);
    expect(trainer.trainStep(batches(1, 4)[0]!).skipped).toBe(false);
    trainer.dispose();
    model.dispose();
    await trainer.close();
  });

  it('startThreads() rejects with a thread that cannot start, naming it', async () => {
    const model = tinyModel('thread-probe');
    const trainer = new Trainer(model, { workers: 2 }); // core's script: no plugin there
    await expect(trainer.startThreads()).rejects.toThrow(
      /^training thread 2 of 2 could not start: unknown model type 'thread-probe'/,
    );
    // a script that does not load: the thread's error event ends the wait
    const broken = new Trainer(model, { workers: 2, workerScript: fixture('broken-thread.mjs') });
    await expect(broken.startThreads()).rejects.toThrow(
      /^training thread 2 of 2 could not start: .*mann-no-such-package-for-the-thread-tests/,
    );
    await Promise.all([trainer.close(), broken.close()]);
    model.dispose();
  });

  it('times the start out when a script never serves the thread', async () => {
    const model = tinyModel();
    const threads = new TrainingThreads(model, 2, {
      script: fixture('silent-thread.mjs'),
      startTimeoutMs: 1500,
    });
    try {
      await expect(threads.start()).rejects.toThrow(
        'training thread 2 of 2 could not start: it did not answer within 1.5 s; does workerScript call serveTrainingThread()?',
      );
      expect(() => threads.lossAndGradients(batches(1, 2)[0]!)).toThrow(
        'the training threads have not started yet',
      );
    } finally {
      await threads.close();
      model.dispose();
    }
  });

  it('rejects a bad workerScript, naming it', () => {
    const model = tinyModel();
    expect(() => new Trainer(model, { workerScript: 5 as unknown as string })).toThrow(MannError);
    expect(() => new Trainer(model, { workerScript: '' })).toThrow(/^workerScript must be/);
    const missing = new Trainer(model, { workers: 2, workerScript: './no/such-thread.mjs' });
    expect(() => missing.trainStep(batches(1, 2)[0]!)).toThrow(
      /^workerScript \.\/no\/such-thread\.mjs does not exist/,
    );
    const notWorker = new Trainer(model, {
      workers: 2,
      workerScript: () => ({}) as unknown as Worker,
    });
    expect(() => notWorker.trainStep(batches(1, 2)[0]!)).toThrow(
      /^workerScript must start a worker \(an object with postMessage and terminate\)/,
    );
    model.dispose();
  });

  it('serveTrainingThread() refuses the main thread', () => {
    expect(() => serveTrainingThread()).toThrow(MannError);
    expect(() => serveTrainingThread()).toThrow(
      /^serveTrainingThread\(\) serves a training thread/,
    );
  });
});

// The fixtures are resolved from this file: keep their paths honest.
it('has its fixtures', () => {
  for (const name of ['serve-thread.mjs', 'silent-thread.mjs', 'broken-thread.mjs'])
    expect(fileURLToPath(fixture(name))).toMatch(new RegExp(`fixtures/${name}$`));
});
