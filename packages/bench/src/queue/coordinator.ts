// The coordinator of queue mode (`mann bench --queue`): enqueues a suite's runs as BullMQ jobs
// and stores the events the workers append to the Redis stream, as the only writer of the
// results store. The stream is its log: entries are trimmed only once stored, and storing is
// idempotent, so a coordinator killed at any moment and started again collects everything that
// happened while it was away.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { label, record, type GridSummary } from '../pool.js';
import type { ProgressDisplay } from '../progress.js';
import { checkpointPath, type RunEvent } from '../runner.js';
import type { RunSpec } from '../spec.js';
import type { ResultsStore } from '../store.js';
import { CoordinatorClaim } from './coordinator-lock.js';
import type { RunJobData } from './processor.js';
import {
  EVENTS_KEY,
  QUEUE_NAME,
  checkReachable,
  checkpointKey,
  connectionOptions,
  jobIdOf,
  openConnection,
  parseQueueUrl,
  productionWarnings,
  type QueueUrl,
} from './redis.js';

/** Options of {@link QueueCoordinator.runGrid}. */
export interface QueueGridOptions {
  readonly store: ResultsStore;
  readonly resultsDir: string;
  readonly progress: ProgressDisplay;
  /** How often job states are checked for runs that failed without an event, ms. Default 1000. */
  readonly pollMs?: number;
}

/** Stream entries read at once. */
const BATCH = 500;

/** The id just after a stream entry id (`ms-seq`), for XTRIM MINID. */
function nextId(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}

/**
 * A failed job's reason as the run's error; a sandboxed process that died says so in the words
 * of a local benchmark.
 */
export function failureMessage(reason: string | undefined): string {
  const exit = /^Unexpected exit code: (\S+) signal: (\S+)$/.exec(reason ?? '');
  if (exit)
    return `worker process exited unexpectedly (code ${exit[1]}, signal ${exit[2]}) during this run`;
  return reason || 'the job failed without a reason';
}

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/** A claimed queue: one coordinator at a time collects its results. */
export class QueueCoordinator {
  private constructor(
    readonly url: QueueUrl,
    private readonly redis: Redis,
    private readonly claim: CoordinatorClaim,
  ) {}

  /**
   * Checks the URL, that Redis answers, and that no other coordinator holds the queue; throws a
   * clear error otherwise. Nothing is written anywhere before this succeeds.
   */
  static async open(queue: string, resultsDir: string): Promise<QueueCoordinator> {
    const url = parseQueueUrl(queue);
    await checkReachable(url);
    const redis = openConnection(url);
    try {
      const claim = await CoordinatorClaim.acquire(redis, resultsDir, url.shown);
      for (const warning of await productionWarnings(url))
        process.stderr.write(`mann: warning: ${warning}\n`);
      return new QueueCoordinator(url, redis, claim);
    } catch (error) {
      redis.disconnect();
      throw error;
    }
  }

  /**
   * Enqueues `specs` (a run already queued, running or finished is not added again; a failed one
   * is tried again) and stores their events until every run is done or failed.
   */
  async runGrid(specs: readonly RunSpec[], options: QueueGridOptions): Promise<GridSummary> {
    const { store, progress } = options;
    const summary: GridSummary = { done: [], failed: [] };
    const unsettled = new Map(specs.map((s) => [s.id, s]));
    const queue = new Queue<RunJobData>(QUEUE_NAME, {
      connection: connectionOptions(this.url) as ConnectionOptions,
    });
    const reader = this.redis.duplicate();
    let redisDown = false;
    const onError = (error: Error): void => {
      if (redisDown) return;
      redisDown = true;
      progress.log(`queue: Redis at ${this.url.shown}: ${error.message}; reconnecting`);
    };
    const onReady = (): void => {
      redisDown = false;
    };
    for (const client of [this.redis, reader]) client.on('error', onError).on('ready', onReady);
    queue.on('error', onError);
    let lastId = '0-0';
    /** Runs with events in the stream but not in this store (enqueued for another one). */
    const strangers = new Set<string>();

    const settle = (runId: string): void => {
      unsettled.delete(runId);
    };
    const fail = (spec: RunSpec, message: string, stack?: string): void => {
      store.failRun(spec.id, message, stack);
      summary.failed.push({ runId: spec.id, message });
      progress.finish(spec.id, `${label(spec)}: FAILED: ${message}`);
      settle(spec.id);
    };
    const apply = async (runId: string, host: string, event: RunEvent): Promise<void> => {
      const spec = unsettled.get(runId) ?? store.spec(runId);
      if (!spec) {
        if (!strangers.has(runId))
          progress.log(`queue: skipping the events of run ${runId}, which is not in this store`);
        strangers.add(runId);
        return;
      }
      if (event.type === 'checkpoint') {
        // The checkpoint itself is in Redis already (see processor.ts): only the progress.
        store.updateProgress(runId, {
          steps: event.step,
          sequences: event.sequences,
          wallMs: event.wallMs,
        });
        return;
      }
      if (event.type === 'done') {
        // The final checkpoint, where `mann eval` and `mann visualize` look for it.
        const bytes = await this.redis.getBuffer(checkpointKey(runId));
        if (bytes) {
          const path = checkpointPath(options.resultsDir, runId);
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(`${path}.part`, bytes);
          renameSync(`${path}.part`, path);
          // A finished run resumes from nowhere: Redis need not hold its checkpoint any longer.
          await this.redis.del(checkpointKey(runId));
        }
      }
      record(store, progress, spec, options.resultsDir, event);
      if (event.type === 'start') store.setHost(runId, host);
      if (event.type === 'done' && unsettled.has(runId)) {
        summary.done.push(runId);
        settle(runId);
      }
    };
    /** Reads and stores one batch of events; returns how many there were. */
    const read = async (blockMs: number): Promise<number> => {
      const args = blockMs > 0 ? ['BLOCK', blockMs] : [];
      const reply = (await reader.call(
        'XREAD',
        'COUNT',
        BATCH,
        ...args,
        'STREAMS',
        EVENTS_KEY,
        lastId,
      )) as StreamReply;
      const entries = reply?.[0]?.[1] ?? [];
      for (const [id, fields] of entries) {
        const value = (name: string): string => fields[fields.indexOf(name) + 1] ?? '';
        await apply(value('run'), value('host'), JSON.parse(value('event')) as RunEvent);
        lastId = id;
      }
      // Stored: the entries may go (a coordinator started later would store them again, harmlessly).
      if (entries.length > 0) await this.redis.xtrim(EVENTS_KEY, 'MINID', nextId(lastId));
      return entries.length;
    };
    const drain = async (): Promise<void> => {
      while ((await read(0)) === BATCH);
    };
    /** Runs whose job ended without their final event: failed (or lost) jobs. */
    const checkJobs = async (): Promise<void> => {
      const ids = [...unsettled.keys()];
      const states = await Promise.all(ids.map((id) => queue.getJobState(jobIdOf(id))));
      const ended = ids.filter((_, i) => ['failed', 'completed', 'unknown'].includes(states[i]!));
      if (ended.length === 0) return;
      // A job's events are in the stream before it ends: store them first.
      await drain();
      for (const id of ended) {
        const spec = unsettled.get(id);
        if (!spec) continue;
        const job = await queue.getJob(jobIdOf(id));
        const state = job ? await job.getState() : 'unknown';
        if (state === 'failed')
          fail(spec, failureMessage(job?.failedReason), job?.stacktrace?.at(-1));
        else if (state === 'completed')
          fail(spec, 'its job completed but its results never reached the coordinator');
        else if (state === 'unknown') fail(spec, 'its job was removed from the queue');
      }
    };

    try {
      // What finished while no coordinator was reading.
      await drain();
      let added = 0;
      for (const spec of specs) {
        if (!unsettled.has(spec.id)) continue;
        const jobId = jobIdOf(spec.id);
        const job = await queue.getJob(jobId);
        const state = job ? await job.getState() : 'unknown';
        if (state === 'failed') {
          await job!.retry('failed');
          added++;
        } else if (state === 'completed' || state === 'unknown') {
          // Completed, yet not done here: its results went to another store. Train it again.
          if (job) await job.remove();
          await queue.add('run', { spec, fresh: state === 'completed' }, { jobId });
          added++;
        }
      }
      progress.log(
        `queue ${this.url.shown}: ${added} run${added === 1 ? '' : 's'} enqueued, ${unsettled.size - added} already queued or running; start workers with: mann worker --queue ${this.url.shown}`,
      );
      let checked = Date.now();
      while (unsettled.size > 0) {
        if (this.claim.isLost)
          throw new Error(`queue: another coordinator took over queue ${this.url.shown}`);
        await read(Math.min(1000, options.pollMs ?? 1000));
        if (Date.now() - checked >= (options.pollMs ?? 1000)) {
          await checkJobs();
          checked = Date.now();
        }
      }
      return summary;
    } finally {
      await queue.close();
      reader.disconnect();
    }
  }

  /** Gives up the queue and closes the connection. */
  async close(): Promise<void> {
    try {
      await this.claim.release();
    } finally {
      this.redis.disconnect();
    }
  }
}
