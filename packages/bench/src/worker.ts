// A benchmark worker process: receives runs from the parent over IPC, trains them one at a
// time, and sends every RunEvent back. The parent alone writes the results database.
import { registerBuiltins } from './builtins.js';
import { executeRun, type RunEvent } from './runner.js';
import { loadPlugins } from './plugins.js';
import type { RunSpec } from './spec.js';

/** Messages from the parent. */
export type ToWorker =
  | { type: 'run'; spec: RunSpec; resultsDir: string; fresh: boolean; threads?: number }
  | { type: 'stop' };
/** Messages to the parent. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'startFailed'; message: string }
  | { type: 'event'; event: RunEvent }
  | { type: 'failed'; runId: string; message: string; stack?: string }
  | { type: 'finished'; runId: string };

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    // A parent that went away cannot be told anything; 'disconnect' ends this process.
    if (!process.connected) return resolve();
    process.send?.(message, () => resolve());
  });
}

async function main(): Promise<void> {
  if (!process.send)
    throw new Error('worker.js must be started by the mann benchmark (no IPC channel)');
  registerBuiltins();
  const plugins = JSON.parse(process.env.MANN_PLUGINS ?? '[]') as string[];
  await loadPlugins(plugins);
  // The parent going away (killed, crashed) ends the worker: its run resumes from its checkpoint.
  process.on('disconnect', () => process.exit(0));
  let queue = Promise.resolve();
  process.on('message', (message: ToWorker) => {
    if (message.type === 'stop') {
      process.exit(0);
    }
    queue = queue.then(async () => {
      const { spec, resultsDir, fresh, threads } = message;
      const pending: Promise<void>[] = [];
      try {
        await executeRun(spec, {
          resultsDir,
          fresh,
          threads: threads ?? 1,
          plugins,
          emit: (event) => void pending.push(send({ type: 'event', event })),
        });
        await Promise.all(pending);
        await send({ type: 'finished', runId: spec.id });
      } catch (error) {
        await Promise.allSettled(pending);
        const e = error instanceof Error ? error : new Error(String(error));
        await send({
          type: 'failed',
          runId: spec.id,
          message: e.message,
          ...(e.stack ? { stack: e.stack } : {}),
        });
      }
    });
  });
  await send({ type: 'ready' });
}

main().catch(async (error: unknown) => {
  // Before 'ready' (plugins, built-ins): tell the parent why, so it can fail the run with it.
  console.error(error);
  await send({
    type: 'startFailed',
    message: error instanceof Error ? error.message : String(error),
  });
  process.exit(1);
});
