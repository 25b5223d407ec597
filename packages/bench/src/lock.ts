import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MannError } from '@mann/core';
import { onTermination } from './signals.js';

/** Who holds a results directory: written as JSON into its lock file. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly command: string;
  readonly startedAt: string;
}

/** A held lock on a results directory; {@link ResultsLock.release} gives it up. */
export interface ResultsLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock file (if it is still ours). Idempotent. */
  release(): void;
}

/** The lock file of a results directory. */
export function lockPath(resultsDir: string): string {
  return join(resultsDir, 'mann.lock');
}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): { text: string; owner?: LockOwner } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    if (Number.isInteger(owner.pid) && typeof owner.host === 'string') return { text, owner };
  } catch {
    // not ours or damaged: reported as such below
  }
  return { text };
}

/**
 * Makes this process the one writer of `resultsDir` (`mann.lock` in it holds the owner's pid,
 * host, command and start time). A lock left by a process that no longer runs on this host is
 * stale and taken over; a live owner, or one on another host (whose pid cannot be checked), makes
 * this throw a MannError naming it. The lock is released by {@link ResultsLock.release}, when the
 * process exits, and on SIGINT or SIGTERM.
 */
export function lockResultsDir(resultsDir: string, command: string): ResultsLock {
  try {
    mkdirSync(resultsDir, { recursive: true });
  } catch (error) {
    throw new MannError(
      `cannot create results directory ${resultsDir}: ${(error as Error).message}`,
    );
  }
  const path = lockPath(resultsDir);
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    command,
    startedAt: new Date().toISOString(),
  };
  const content = `${JSON.stringify(owner)}\n`;
  // Written in full under a private name, then linked into place: the lock file appears
  // atomically with its content, and link fails if it exists.
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(temporary, content);
  } catch (error) {
    throw new MannError(
      `cannot write in results directory ${resultsDir}: ${(error as Error).message}`,
    );
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temporary, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new MannError(
            `cannot lock results directory ${resultsDir}: ${(error as Error).message}`,
          );
        }
      }
      const held = readOwner(path);
      if (!held) continue; // released meanwhile
      const { owner: other } = held;
      if (!other) {
        throw new MannError(
          `results directory ${resultsDir} has a lock file ${path} that mann cannot read; if no mann process uses this directory, delete it`,
        );
      }
      const stale = other.host === owner.host && other.pid !== process.pid && !isAlive(other.pid);
      if (!stale || attempt >= 3) {
        throw new MannError(
          `results directory ${resultsDir} is in use by another mann process (pid ${other.pid} on ${other.host}, \`mann ${other.command}\` since ${other.startedAt}); wait for it to end or use another --results directory${other.host === owner.host ? '' : `. If that process has ended, delete ${path}`}`,
        );
      }
      // The owner is gone: remove its lock unless someone replaced it since we read it.
      if (readOwner(path)?.text === held.text) rmSync(path, { force: true });
    }
  } finally {
    rmSync(temporary, { force: true });
  }

  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    stopWatching();
    try {
      if (readOwner(path)?.text === content) rmSync(path, { force: true });
    } catch {
      // nothing more can be done while exiting; a lock of a dead pid is stale anyway
    }
  };
  process.on('exit', release);
  const stopWatching = onTermination(release);
  return { path, owner, release };
}
