// BullMQ's sandboxed processor of `mann worker`: a child process that trains one run at a time
// with the same code as a local benchmark worker (executeRun) and appends every event it emits
// to the Redis stream the coordinator stores them from. Training blocks this process's event
// loop; BullMQ renews the job's lock from the parent process, which stays free.
//
// Checkpoints live in Redis: a run resumes from the one stored there, whichever worker wrote it.
// A checkpoint is put in force together with its 'checkpoint' event, in one MULTI, after every
// earlier event of the run: the stream (the coordinator's log) is never behind the checkpoint a
// run resumes from, so no point is lost when a worker dies.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Redis } from 'ioredis';
import type { SandboxedJob } from 'bullmq';
import { registerBuiltins } from '../builtins.js';
import { loadPlugins } from '../plugins.js';
import { checkpointPath, executeRun, type RunEvent } from '../runner.js';
import type { RunSpec } from '../spec.js';
import { EVENTS_KEY, checkpointKey, openConnection, parseQueueUrl } from './redis.js';

/** What the coordinator puts in a job. */
export interface RunJobData {
  readonly spec: RunSpec;
  /** Start over, ignoring a stored checkpoint. */
  readonly fresh?: boolean;
}

/** What a finished job returns. */
export interface RunJobResult {
  readonly runId: string;
  readonly host: string;
}

/** The fields of one stream entry: the run, the host that ran it, the event as JSON. */
export function streamFields(runId: string, host: string, event: RunEvent): string[] {
  return ['run', runId, 'host', host, 'event', JSON.stringify(event)];
}

interface Context {
  readonly redis: Redis;
  readonly scratch: string;
}
let context: Promise<Context> | undefined;

/** Connects, loads built-ins and plugins once per child process. */
function setUp(): Promise<Context> {
  context ??= (async () => {
    // The worker process going away (killed, crashed) ends this child too: its run is handed
    // to another worker, which resumes it from its checkpoint. Without this an orphaned child
    // would keep training and writing events next to the new attempt.
    process.on('disconnect', () => process.exit(0));
    const url = parseQueueUrl(process.env.MANN_QUEUE_URL ?? '', 'MANN_QUEUE_URL');
    registerBuiltins();
    await loadPlugins(JSON.parse(process.env.MANN_PLUGINS ?? '[]') as string[]);
    const redis = openConnection(url, (error) =>
      process.stderr.write(`mann worker: redis: ${error.message}\n`),
    );
    const scratch = mkdtempSync(join(tmpdir(), 'mann-worker-'));
    process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
    return { redis, scratch };
  })();
  return context;
}

/** Trains the job's run; resolves once every event of it is in Redis. */
export default async function processRun(job: SandboxedJob<RunJobData>): Promise<RunJobResult> {
  const { redis, scratch } = await setUp();
  const { spec } = job.data;
  const host = hostname();
  const key = checkpointKey(spec.id);
  // executeRun reads and writes checkpoints in a results directory: a private scratch one
  // here, filled from Redis before and emptied into Redis as the run goes.
  const local = checkpointPath(scratch, spec.id);
  rmSync(local, { force: true });
  if (job.data.fresh) {
    await redis.del(key);
    // Only this attempt starts over: one after a worker death resumes from its checkpoints.
    await job.updateData({ spec });
  } else {
    const stored = await redis.getBuffer(key);
    if (stored) {
      mkdirSync(dirname(local), { recursive: true });
      writeFileSync(local, stored);
    }
  }
  // Commands on one connection run in order: awaiting the last write awaits them all. A write
  // that fails (Redis out of memory, say) ends the run at its next event, as a local run ends
  // when its results cannot be stored.
  let last: Promise<unknown> = Promise.resolve();
  let writeError: Error | undefined;
  const send = (write: Promise<unknown>): void => {
    last = write.catch((error: unknown) => {
      writeError ??= error instanceof Error ? error : new Error(String(error));
    });
  };
  const emit = (event: RunEvent): void => {
    if (writeError) throw new Error(`cannot send results to Redis: ${writeError.message}`);
    if (event.type === 'checkpoint') {
      const bytes = readFileSync(event.staged);
      rmSync(event.staged, { force: true });
      const sent = { ...event, staged: '' };
      send(
        redis
          .multi()
          .set(key, bytes)
          .xadd(EVENTS_KEY, '*', ...streamFields(spec.id, host, sent))
          .exec()
          .then((replies) => {
            const failed = replies?.find(([error]) => error);
            if (!replies || failed)
              throw new Error(`cannot store checkpoint in Redis: ${failed?.[0]?.message}`);
          }),
      );
    } else {
      send(redis.xadd(EVENTS_KEY, '*', ...streamFields(spec.id, host, event)));
    }
  };
  try {
    await executeRun(spec, { resultsDir: scratch, emit });
    await last;
    if (writeError) throw new Error(`cannot send results to Redis: ${writeError.message}`);
    return { runId: spec.id, host };
  } catch (error) {
    await last;
    throw error;
  } finally {
    rmSync(local, { force: true });
  }
}
