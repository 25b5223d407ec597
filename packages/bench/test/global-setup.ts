// Builds the `mann` CLI (core, tasks, ntm, dnc, bench; cached by nx) once before the bench
// tests, which run `node packages/bench/dist/cli.js` as a user would.
// MANN_SKIP_BUILD=1 skips it (when dist is known to be fresh, or for tests that never spawn it).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export default function setup(): void {
  if (process.env.MANN_SKIP_BUILD) return;
  const command = ['nx', 'run', '@mann/bench:build', '--output-style=static'];
  const result = spawnSync('npx', command, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  });
  if (result.status !== 0) {
    throw new Error(
      `\`npx ${command.join(' ')}\` failed (exit ${result.status}${result.error ? `, ${result.error.message}` : ''}); the bench tests need the built CLI:\n${result.stdout ?? ''}\n${result.stderr ?? ''}`,
    );
  }
}
