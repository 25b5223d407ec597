// One writer per results directory: `mann.lock` names the owner (pid, host, command); a second
// writer refuses with that name; a lock whose process is gone is taken over; the lock goes away
// when its process ends, by returning, throwing, exit, SIGINT or SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MannError } from '@mann/core';
import { lockPath, lockResultsDir } from '../src/lock.js';
import {
  finished,
  isRunning,
  json,
  mann,
  REPO_ROOT,
  removeScratch,
  scratchDir,
  startMann,
  waitFor,
  writeSuite,
} from './cli-helpers.js';

afterAll(removeScratch);

/** A pid that belonged to a process that has ended. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(child.stdout);
}

describe('lockResultsDir', () => {
  it('writes the owner, refuses a second writer naming the owner, and releases', async () => {
    const dir = await scratchDir('lock');
    const lock = lockResultsDir(dir, 'bench --suite quick');
    const owner = JSON.parse(readFileSync(lockPath(dir), 'utf8')) as Record<string, unknown>;
    expect(owner).toMatchObject({
      pid: process.pid,
      host: hostname(),
      command: 'bench --suite quick',
    });
    const error = (() => {
      try {
        lockResultsDir(dir, 'train');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(MannError);
    expect(error?.message).toBe(
      `results directory ${dir} is in use by another mann process (pid ${process.pid} on ${hostname()}, \`mann bench --suite quick\` since ${String(owner.startedAt)}); wait for it to end or use another --results directory`,
    );
    lock.release();
    lock.release(); // idempotent
    expect(existsSync(lockPath(dir))).toBe(false);
    lockResultsDir(dir, 'again').release();
  });

  it('takes over a lock whose process no longer runs on this host', async () => {
    const dir = await scratchDir('lock-stale');
    const pid = deadPid();
    expect(isRunning(pid)).toBe(false);
    writeFileSync(
      lockPath(dir),
      JSON.stringify({ pid, host: hostname(), command: 'bench', startedAt: 'then' }),
    );
    const lock = lockResultsDir(dir, 'bench');
    expect(JSON.parse(readFileSync(lockPath(dir), 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it('refuses a lock held on another host (its pid cannot be checked) and says what to do', async () => {
    const dir = await scratchDir('lock-host');
    const text = JSON.stringify({ pid: 1, host: 'elsewhere', command: 'bench', startedAt: 'x' });
    writeFileSync(lockPath(dir), text);
    expect(() => lockResultsDir(dir, 'bench')).toThrow(
      `results directory ${dir} is in use by another mann process (pid 1 on elsewhere, \`mann bench\` since x); wait for it to end or use another --results directory. If that process has ended, delete ${lockPath(dir)}`,
    );
    writeFileSync(lockPath(dir), 'garbage');
    expect(() => lockResultsDir(dir, 'bench')).toThrow(
      `results directory ${dir} has a lock file ${lockPath(dir)} that mann cannot read; if no mann process uses this directory, delete it`,
    );
    expect(readFileSync(lockPath(dir), 'utf8')).toBe('garbage');
  });

  describe('is released when its process ends', () => {
    const LOCK_MODULE = join(REPO_ROOT, 'packages/bench/dist/lock.js');
    /** Starts a node process that locks `dir`, prints 'locked', then does `then`. */
    const holder = (dir: string, then: string) =>
      spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { lockResultsDir } from ${JSON.stringify(LOCK_MODULE)};
           lockResultsDir(${JSON.stringify(dir)}, 'test');
           process.stdout.write('locked\\n');
           ${then}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );

    for (const [label, then] of [
      ['by process.exit', 'process.exit(4);'],
      ['by an uncaught error', "throw new Error('boom');"],
      ['by returning', ''],
    ] as const) {
      it(label, async () => {
        const dir = await scratchDir('lock-exit');
        const result = await finished(holder(dir, then));
        expect(result.stdout, result.stderr).toBe('locked\n');
        expect(existsSync(lockPath(dir))).toBe(false);
      });
    }

    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`by ${signal}, and the process still ends by that signal`, async () => {
        const dir = await scratchDir('lock-signal');
        const child = holder(dir, 'setInterval(() => {}, 1000);');
        const done = finished(child);
        let out = '';
        child.stdout.on('data', (s: Buffer) => (out += s.toString()));
        await waitFor('the lock', () => out === 'locked\n');
        expect(existsSync(lockPath(dir))).toBe(true);
        child.kill(signal);
        const result = await done;
        expect(result.signal).toBe(signal);
        expect(existsSync(lockPath(dir))).toBe(false);
      });
    }
  });
});

describe('two mann processes on one results directory', () => {
  it('the second refuses, naming the first; the first releases the lock on SIGINT', async () => {
    const dir = await scratchDir('lock-bench');
    const results = join(dir, 'results');
    const suite = await writeSuite(dir, {
      name: 'locked',
      description: 'lock test',
      models: [{ label: 'lstm', config: { type: 'lstm', hiddenSizes: [8] } }],
      tasks: [{ name: 'copy', params: { bits: 4, maxLength: 3 } }],
      seeds: [1],
      training: { sequences: 64_000, batchSize: 16, evalEvery: 3200, evalSize: 16 },
    });
    const first = startMann(['bench', '--suite', suite, '--workers', '0', '--results', results]);
    const firstDone = finished(first);
    await waitFor('the first to lock', () => existsSync(lockPath(results)), 60_000);
    for (const args of [
      ['bench', '--suite', suite, '--workers', '1'],
      ['train', '--model', 'lstm', '--task', 'copy'],
    ]) {
      const second = await mann(...args, '--results', results, '--json');
      expect(second.code).toBe(1);
      expect(json<{ error: string }>(second).error).toMatch(
        new RegExp(
          `^results directory ${results} is in use by another mann process \\(pid ${first.pid} on ${hostname()}, \`mann bench --suite locked\` since `,
        ),
      );
    }
    expect(isRunning(first.pid!)).toBe(true);
    first.kill('SIGINT');
    const ended = await firstDone;
    expect(ended.signal).toBe('SIGINT');
    expect(existsSync(lockPath(results))).toBe(false);
  });
});
