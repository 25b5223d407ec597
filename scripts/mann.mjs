#!/usr/bin/env node
// `npm run mann -- <args>` and `npm run bench`: builds the CLI quietly (nx, cached; its output is
// shown only if the build fails), then runs it with the arguments, so that what the command
// prints comes first and alone (`npm run mann -- --help` shows the help, not the build).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const build = spawnSync('npx', ['nx', 'run', '@mann/bench:build', '--output-style=static'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, NX_NO_CLOUD: 'true' },
});
if (build.status !== 0) {
  process.stderr.write(build.stdout ?? '');
  process.stderr.write(build.stderr ?? '');
  process.stderr.write(
    `mann: building the CLI failed (exit ${build.status ?? build.signal}${build.error ? `, ${build.error.message}` : ''})\n`,
  );
  process.exit(1);
}
const cli = spawnSync(
  process.execPath,
  [
    fileURLToPath(new URL('../packages/bench/dist/cli.js', import.meta.url)),
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
if (cli.signal) process.kill(process.pid, cli.signal);
process.exit(cli.status ?? 1);
