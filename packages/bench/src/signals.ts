// Work to do when the process is told to stop (SIGINT from Ctrl-C, SIGTERM from kill): mark a run
// interrupted, release a lock. Callbacks run synchronously, newest first; then the signal is
// raised again with our handler removed, so the process ends as it would have without it.

type Cleanup = (signal: NodeJS.Signals) => void;

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
const cleanups: Cleanup[] = [];

function handle(signal: NodeJS.Signals): void {
  for (const s of SIGNALS) process.removeListener(s, handle);
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup(signal);
    } catch (error) {
      process.stderr.write(`mann: error while stopping: ${(error as Error).message}\n`);
    }
  }
  process.kill(process.pid, signal);
}

/**
 * Runs `cleanup` (synchronously) if the process receives SIGINT or SIGTERM before the returned
 * function is called; the process then ends by that signal.
 */
export function onTermination(cleanup: Cleanup): () => void {
  if (cleanups.length === 0) for (const s of SIGNALS) process.on(s, handle);
  cleanups.push(cleanup);
  return () => {
    const at = cleanups.indexOf(cleanup);
    if (at >= 0) cleanups.splice(at, 1);
    if (cleanups.length === 0) for (const s of SIGNALS) process.removeListener(s, handle);
  };
}
