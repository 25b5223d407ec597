// Builds @mann/core (tsc, cached by nx) once before the tests: the training-thread tests start
// worker threads, which run the compiled dist/ (Node cannot start a worker on a .ts file).
// MANN_SKIP_BUILD=1 skips it (when dist is known to be fresh).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export default function setup(): void {
  if (process.env.MANN_SKIP_BUILD) return;
  const command = ['nx', 'run', '@mann/core:build', '--output-style=static'];
  const result = spawnSync('npx', command, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  });
  if (result.status !== 0) {
    throw new Error(
      `\`npx ${command.join(' ')}\` failed (exit ${result.status}${result.error ? `, ${result.error.message}` : ''}); the training-thread tests need the compiled core:\n${result.stdout ?? ''}\n${result.stderr ?? ''}`,
    );
  }
}
