/**
 * The threads check page (threads.html): drives threads-check-worker.ts, a trainer in a Web
 * Worker with training threads, for the browser tests and for people: `threadsCheck.run('equal')`,
 * `run('dispose')`, `run('fail')` resolve with what the worker measured. The page also records
 * what building a trainer with threads on the page's own main thread says (`mainThreadError`).
 */
import { Trainer, createModel, selectBackend } from '@mann/core';
import { startTrainingThread } from './thread-script.js';
import type { CheckCommand, CheckReply } from './threads-check-worker.js';

interface ThreadsCheck {
  backend: string | null;
  isolated: boolean;
  mainThreadError: string | null;
  run(command: CheckCommand): Promise<unknown>;
}

const status = document.querySelector<HTMLDivElement>('#status')!;
const log = document.querySelector<HTMLPreElement>('#log')!;
const worker = new Worker(new URL('./threads-check-worker.ts', import.meta.url), {
  type: 'module',
});
const pending: { command: CheckCommand; resolve(v: unknown): void; reject(e: Error): void }[] = [];

const check: ThreadsCheck = {
  backend: null,
  isolated: globalThis.crossOriginIsolated === true,
  mainThreadError: null,
  run(command) {
    return new Promise((resolve, reject) => {
      pending.push({ command, resolve, reject });
      worker.postMessage(command);
    });
  },
};
(globalThis as unknown as { threadsCheck: ThreadsCheck }).threadsCheck = check;

worker.onmessage = (event: MessageEvent<CheckReply>) => {
  const reply = event.data;
  if (reply.type === 'ready') {
    check.backend = reply.backend;
    status.textContent = `ready (trainer's worker on ${reply.backend}; crossOriginIsolated: ${check.isolated})`;
    status.dataset.state = 'ready';
    return;
  }
  const waiting = pending.shift();
  log.textContent += `${waiting?.command ?? '?'}: ${JSON.stringify(reply)}\n`;
  if (!waiting) return;
  if (reply.type === 'result') waiting.resolve(reply.result);
  else waiting.reject(new Error(reply.message));
};
worker.onerror = (event) => {
  status.textContent = `worker failed: ${event.message}`;
  status.dataset.state = 'error';
};

// A trainer with threads cannot run on a page's main thread (Atomics.wait is not allowed here).
await selectBackend({ backend: 'cpu' });
const model = createModel({ type: 'lstm', inputSize: 3, outputSize: 2, hiddenSizes: [4] });
try {
  new Trainer(model, { workers: 2, workerScript: startTrainingThread }).dispose();
} catch (error) {
  check.mainThreadError = error instanceof Error ? error.message : String(error);
} finally {
  model.dispose();
}
