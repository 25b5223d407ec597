// Shared helpers of the end-to-end tests: run the built `mann` CLI, make scratch directories,
// read the results database, watch processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The built CLI (see global-setup.ts). */
export const CLI = join(REPO_ROOT, 'packages/bench/dist/cli.js');
/** Test plugin whose model fails during training (see fixtures/crash-plugin.mjs). */
export const CRASH_PLUGIN = fileURLToPath(new URL('./fixtures/crash-plugin.mjs', import.meta.url));
/** The worked plugin example. */
export const STACK_PLUGIN = join(REPO_ROOT, 'examples/stack-memory/stack-memory.mjs');
/** The worked example's suite. */
export const STACK_SUITE = join(REPO_ROOT, 'examples/stack-memory/suite.json');

/** How a CLI process ended. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `node cli.js ...args` in the repository root (stdout and stderr piped). */
export function startMann(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, MANN_DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Collects the output of a started CLI process until it ends. */
export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs `mann ...args` to the end. */
export function mann(...args: string[]): Promise<CliResult> {
  return finished(startMann(args));
}

/** Parses the JSON a `--json` command printed; the error shows what it printed instead. */
export function json<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(
      `expected JSON on stdout (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
}

/** A fresh scratch directory; {@link removeScratch} deletes them all. */
const scratch: string[] = [];
export async function scratchDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `mann-${label}-`));
  scratch.push(dir);
  return dir;
}
export async function removeScratch(): Promise<void> {
  await Promise.all(scratch.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** Writes `suite` as JSON to `<dir>/<name>.json` (the suite's name is its file's base name). */
export async function writeSuite<S extends { name: string }>(
  dir: string,
  suite: S,
): Promise<string> {
  const path = join(dir, `${suite.name}.json`);
  await writeFile(path, JSON.stringify(suite, null, 2));
  return path;
}

/** Opens `<results>/results.db` read-only. */
export function openResults(results: string): Database.Database {
  return new Database(join(results, 'results.db'), { readonly: true, fileMustExist: true });
}

/** Rows of a query on `<results>/results.db`. */
export function query<T>(results: string, sql: string, ...params: unknown[]): T[] {
  const db = openResults(results);
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Files in `<results>/checkpoints` (none if it does not exist yet). */
export function checkpoints(results: string): string[] {
  const dir = join(results, 'checkpoints');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ckpt')) : [];
}

/** Whether process `pid` is still running (a zombie counts as ended). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ...: the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pids of the live children of `pid` (Linux /proc). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

/** Polls `condition` every `everyMs` until it holds; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs = 30_000,
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
