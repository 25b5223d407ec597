// A training thread (started by TrainingThreads in threads.ts): holds a replica of the model and
// computes the loss and gradients of the batch shards the main thread sends it. Everything that
// can fail is imported dynamically, after the handlers that report failures are in place, so
// that even a module that does not load fails the step with its own message.
import { parentPort, workerData } from 'node:worker_threads';
import type { ThreadReply, ThreadRequest, ThreadStartData } from './threads.js';

const data = workerData as ThreadStartData;
const status = new Int32Array(data.status);
const slot = 1 + data.index;
let current = 1;

function answer(reply: ThreadReply): void {
  data.reply.postMessage(reply);
  Atomics.store(status, slot, reply.seq);
  Atomics.notify(status, slot);
}

function fail(error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  answer({
    type: 'error',
    seq: current,
    message: e.message,
    ...(e.stack ? { stack: e.stack } : {}),
  });
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('exit', () => {
  Atomics.store(status, slot, -1); // THREAD_EXITED
  Atomics.notify(status, slot);
});

async function start(): Promise<(request: ThreadRequest) => void> {
  const core = await import('../index.js');
  const { shardLossAndGradients, trainableSizes } = await import('./shards.js');
  for (const specifier of data.modules) {
    const module = (await import(specifier)) as {
      register?: unknown;
      default?: { register?: unknown };
    };
    const register = module.register ?? module.default?.register;
    if (typeof register === 'function') await (register as () => unknown)();
  }
  await core.selectBackend({ backend: data.backend });
  const model = core.createModel(data.config);
  const mine = model.parameters.entries().map(([name, v]) => `${name} [${v.shape.join(', ')}]`);
  const theirs = data.layout.map((p) => `${p.name} [${p.shape.join(', ')}]`);
  if (mine.join() !== theirs.join()) {
    throw new core.MannError(
      `the model rebuilt from its config in this thread has parameters ${mine.join(', ')}; the main thread's has ${theirs.join(', ')}`,
    );
  }
  const gradientSize = trainableSizes(model).reduce((a, b) => a + b, 0);
  const gradients = new Float32Array(data.gradients, 4 * gradientSize * data.index, gradientSize);
  const parameters = new Float32Array(data.parameters);
  return (request) => {
    Atomics.load(status, 0); // orders the main thread's parameter writes before the reads
    const values: Record<string, { shape: readonly number[]; values: Float32Array }> = {};
    let offset = 0;
    for (const { name, shape } of data.layout) {
      const size = shape.reduce((a, b) => a * b, 1);
      values[name] = { shape, values: parameters.slice(offset, offset + size) };
      offset += size;
    }
    model.parameters.load(values);
    const loss = shardLossAndGradients(model, request.shard, gradients);
    answer({ type: 'done', seq: request.seq, loss });
  };
}

start().then(
  (step) => {
    parentPort?.on('message', (request: ThreadRequest) => {
      current = request.seq;
      try {
        step(request);
      } catch (error) {
        fail(error);
      }
    });
    answer({ type: 'ready', seq: 1 });
  },
  (error: unknown) => fail(error),
);
