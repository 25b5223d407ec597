// `mann bench --queue` and `mann worker` on BullMQ and a redis-server these tests start on
// loopback: the rows a queued suite writes equal those of a local run, bitwise, whatever
// happens to a worker, the coordinator or Redis on the way; bad URLs, an unreachable Redis and
// a second coordinator fail at once with a clear message. Each scenario uses its own Redis
// database. Skipped when redis-server is missing (failed on CI, env CI set).
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureMessage } from '../src/queue/coordinator.js';
import { jobIdOf, parseQueueUrl, settingsWarnings } from '../src/queue/redis.js';
import {
  CRASH_PLUGIN,
  checkpoints,
  childrenOf,
  finished,
  isRunning,
  json,
  mann,
  query,
  removeScratch,
  scratchDir,
  startMann,
  waitFor,
  writeSuite,
  type CliResult,
} from './cli-helpers.js';
import { freePort, hasRedisServer, stop, stopAll, TestRedis, track } from './redis-helpers.js';

const SUITE = {
  name: 'queued',
  description: 'queue test suite',
  models: [
    { label: 'lstm', config: { type: 'lstm', hiddenSizes: [16] } },
    {
      label: 'ntm',
      config: {
        type: 'ntm',
        controller: { kind: 'lstm', hiddenSizes: [16] },
        memorySlots: 8,
        memoryWidth: 6,
      },
    },
  ],
  tasks: [{ name: 'copy', params: { bits: 4, maxLength: 3 }, generalisation: ['length-30'] }],
  seeds: [1, 2],
  // 80 updates of 16; evaluation every 20 updates; a checkpoint every 10.
  training: { sequences: 1280, batchSize: 16, evalEvery: 320, evalSize: 32, checkpointEvery: 10 },
};
const RUNS = 4;

const CRASH_SUITE = {
  name: 'queued-crash',
  description: 'failing runs through the queue',
  models: [
    { label: 'lstm', config: { type: 'lstm', hiddenSizes: [16] } },
    { label: 'crash-exit', config: { type: 'crash', hiddenSizes: [16], mode: 'exit' } },
    { label: 'crash-throw', config: { type: 'crash', hiddenSizes: [16], mode: 'throw' } },
  ],
  tasks: [{ name: 'copy', params: { bits: 4, maxLength: 3 }, generalisation: ['length-30'] }],
  seeds: [1],
  training: { sequences: 320, batchSize: 16, evalEvery: 160, evalSize: 32, checkpointEvery: 5 },
};
const EXIT_MESSAGE = 'worker process exited unexpectedly (code 3, signal null) during this run';
const THROW_MESSAGE = 'crash plugin: deliberate failure in run';

const available = hasRedisServer();
if (!available && process.env.CI)
  throw new Error('redis-server is missing; .ci/run installs it (apt-get install redis-server)');

/** Everything a benchmark measured, without the wall-clock times. */
function measured(results: string) {
  return {
    runs: query(
      results,
      'SELECT id, status, parameters, sequence_budget, sequences, steps, backend, error FROM runs ORDER BY id',
    ),
    curve: query(
      results,
      'SELECT run_id, kind, step, sequences, bits, bit_errors FROM curve ORDER BY run_id, kind, step',
    ),
    evaluations: query(results, 'SELECT * FROM evaluations ORDER BY run_id, set_name'),
    pictures: query(results, 'SELECT * FROM pictures ORDER BY run_id'),
    errors: query(results, 'SELECT run_id, message FROM errors ORDER BY rowid'),
  };
}

/** A checkpoint's header: SHA-256 of its tensors, trainer state, data generator state. */
function checkpointState(path: string) {
  const bytes = readFileSync(path);
  const header = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString('utf8')) as {
    sha256: string;
    trainer: unknown;
    metadata: { session: unknown };
  };
  return { sha256: header.sha256, trainer: header.trainer, session: header.metadata.session };
}

let dir: string;
let suitePath: string;
let reference: string;
let redis: TestRedis;

/** Asserts that `results` holds what the local reference run stored, bitwise. */
function expectSameAsReference(results: string, model?: string): void {
  // Only the runs of `model`, if given.
  const only = <T>(rows: T[]): T[] =>
    model
      ? rows.filter((r) => {
          const row = r as { id?: string; run_id?: string };
          return (row.id ?? row.run_id ?? '').includes(`/${model}/`);
        })
      : rows;
  const all = measured(reference);
  const expected = {
    runs: only(all.runs),
    curve: only(all.curve),
    evaluations: only(all.evaluations),
    pictures: only(all.pictures),
    errors: all.errors,
  };
  const actual = measured(results);
  expect(actual.runs).toEqual(expected.runs);
  expect(actual.curve.length).toBe(expected.curve.length);
  expect(actual.curve).toEqual(expected.curve);
  expect(actual.evaluations).toEqual(expected.evaluations);
  expect(actual.pictures).toEqual(expected.pictures);
  expect(actual.errors).toEqual([]);
  expect(checkpoints(results).sort()).toEqual(
    checkpoints(reference)
      .filter((f) => !model || f.includes(`__${model}__`))
      .sort(),
  );
  for (const file of checkpoints(results)) {
    expect(checkpointState(join(results, 'checkpoints', file)), file).toEqual(
      checkpointState(join(reference, 'checkpoints', file)),
    );
  }
}

/** A `mann worker` whose JSON lines (started, finished, ...) are collected as they come. */
interface StartedWorker {
  readonly child: ChildProcess;
  readonly events: { event: string; runId?: string }[];
  readonly done: Promise<CliResult>;
}

async function startWorker(db: number, ...extra: string[]): Promise<StartedWorker> {
  const child = track(startMann(['worker', '--queue', redis.url(db), '--json', ...extra]));
  const events: StartedWorker['events'] = [];
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('{')) events.push(JSON.parse(line) as StartedWorker['events'][number]);
    }
  });
  const done = finished(child);
  await waitFor('the worker to be ready', () => events.some((e) => e.event === 'ready'), 30_000);
  return { child, events, done };
}

const startBench = (db: number, results: string, ...extra: string[]): ChildProcess =>
  track(
    startMann([
      'bench',
      '--suite',
      suitePath,
      '--queue',
      redis.url(db),
      '--results',
      results,
      ...extra,
    ]),
  );

/** The highest step any run has stored (0 before the first checkpoint, or before the store exists). */
const storedSteps = (results: string, model?: string): number => {
  if (!existsSync(join(results, 'results.db'))) return 0;
  try {
    const [row] = query<{ steps: number | null }>(
      results,
      `SELECT MAX(steps) AS steps FROM runs${model ? ' WHERE model_label = ?' : ''}`,
      ...(model ? [model] : []),
    );
    return row?.steps ?? 0;
  } catch {
    return 0; // the coordinator is creating the store
  }
};

describe.skipIf(!available)('mann bench --queue and mann worker', () => {
  beforeAll(async () => {
    dir = await scratchDir('queue');
    suitePath = await writeSuite(dir, SUITE);
    redis = await TestRedis.start(dir);
    reference = join(dir, 'reference');
    const local = await mann(
      'bench',
      '--suite',
      suitePath,
      '--workers',
      '2',
      '--results',
      reference,
    );
    expect(local.code, local.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await stopAll();
    await removeScratch();
  });

  it('stores bitwise the rows of a local run, with the host of each run in the report', async () => {
    const workers = await Promise.all([1, 2, 3].map(() => startWorker(1, '--concurrency', '1')));
    const results = join(dir, 'three-workers');
    const result = await finished(startBench(1, results, '--json'));
    expect(result.code, result.stderr).toBe(0);
    expectSameAsReference(results);
    // Every run went to exactly one worker, once.
    const started = workers.flatMap((w) => w.events.filter((e) => e.event === 'started'));
    expect(started.map((e) => e.runId).sort()).toEqual(
      (measured(reference).runs as { id: string }[]).map((r) => r.id).sort(),
    );
    const output = json<{ report: { markdownPath: string; htmlPath: string } }>(result);
    const markdown = readFileSync(output.report.markdownPath, 'utf8');
    expect(markdown).toContain('## Hosts');
    expect(markdown).toContain(`${hostname()} (${RUNS} runs)`);
    expect(readFileSync(output.report.htmlPath, 'utf8')).toContain('<h2>Hosts</h2>');
    // Everything stored has left Redis: the events stream is trimmed, no checkpoint is kept.
    const client = redis.client(1);
    try {
      expect(await client.xlen('mann:events')).toBe(0);
      expect(await client.keys('mann:checkpoint:*')).toEqual([]);
    } finally {
      client.disconnect();
    }
    // Enqueueing again adds nothing: every run is done, the coordinator ends at once.
    const again = await finished(startBench(1, results, '--json'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`${RUNS} runs, ${RUNS} already done, 0 to run`);
    // A new store: the runs' jobs completed for another store, so they are trained again,
    // from scratch (their checkpoints went with their results).
    const elsewhere = join(dir, 'other-store');
    const other = await finished(startBench(1, elsewhere, '--models', 'lstm', '--json'));
    expect(other.code, other.stderr).toBe(0);
    expectSameAsReference(elsewhere, 'lstm');
    await Promise.all(workers.map((w) => stop(w.child)));
    for (const w of workers) expect(isRunning(w.child.pid!)).toBe(false);
  }, 120_000);

  it('resumes a run whose worker was killed (kill -9) on another worker, from its checkpoint', async () => {
    const results = join(dir, 'killed-worker');
    const lock = ['--lock-duration', '2000'];
    const first = await startWorker(2, '--concurrency', '2', ...lock);
    const bench = startBench(2, results);
    const benchDone = finished(bench);
    // Both ntm runs (the slower ones) on the first worker, past a checkpoint: kill it.
    await waitFor(
      'an ntm run past its second checkpoint',
      () => storedSteps(results, 'ntm') >= 20,
      60_000,
    );
    const children = childrenOf(first.child.pid!);
    expect(children.length).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    await first.done;
    // Its sandboxed child processes end with it: no orphan goes on training.
    await waitFor(
      "the killed worker's children to exit",
      () => children.every((pid) => !isRunning(pid)),
      10_000,
    );
    const second = await startWorker(2, '--concurrency', '2', ...lock);
    const result = await benchDone;
    expect(result.code, result.stderr).toBe(0);
    expectSameAsReference(results);
    // The second worker took the killed worker's runs over from their checkpoints, not from 0.
    const resumed = [...result.stderr.matchAll(/copy\/ntm\/s\d: started at step (\d+)\/80/g)].map(
      (m) => Number(m[1]),
    );
    expect(
      resumed.some((step) => step >= 10 && step % 10 === 0),
      result.stderr,
    ).toBe(true);
    expect(second.events.some((e) => e.event === 'started')).toBe(true);
    await stop(second.child);
  }, 120_000);

  it('collects what finished while the coordinator was away, re-running nothing', async () => {
    const results = join(dir, 'coordinator-restart');
    const worker = await startWorker(3, '--concurrency', '2');
    const first = startBench(3, results);
    const firstDone = finished(first);
    await waitFor('a stored checkpoint', () => storedSteps(results) >= 10, 60_000);
    first.kill('SIGKILL');
    expect((await firstDone).signal).toBe('SIGKILL');
    await waitFor(
      'every run to finish on the worker',
      () => worker.events.filter((e) => e.event === 'finished').length === RUNS,
      90_000,
    );
    const second = await finished(startBench(3, results, '--json'));
    expect(second.code, second.stderr).toBe(0);
    expectSameAsReference(results);
    const started = worker.events.filter((e) => e.event === 'started').map((e) => e.runId);
    expect(started.length).toBe(RUNS);
    expect(new Set(started).size).toBe(RUNS);
    await stop(worker.child);
  }, 150_000);

  it('completes a sweep across a Redis restart (append-only file on)', async () => {
    const results = join(dir, 'redis-restart');
    const worker = await startWorker(4, '--concurrency', '2');
    const bench = startBench(4, results);
    const benchDone = finished(bench);
    await waitFor('a stored checkpoint', () => storedSteps(results) >= 10, 60_000);
    await redis.shutdown();
    await new Promise((r) => setTimeout(r, 1000));
    await redis.restart();
    const result = await benchDone;
    expect(result.code, result.stderr).toBe(0);
    expectSameAsReference(results);
    await stop(worker.child);
  }, 150_000);

  it('records the errors of failing runs of a plugin loaded by the workers', async () => {
    const dir6 = await scratchDir('queue-crash');
    const suite = await writeSuite(dir6, CRASH_SUITE);
    const results = join(dir6, 'results');
    const worker = await startWorker(6, '--concurrency', '2', '--plugin', CRASH_PLUGIN);
    const result = await finished(
      track(
        startMann([
          'bench',
          '--plugin',
          CRASH_PLUGIN,
          '--suite',
          suite,
          '--queue',
          redis.url(6),
          '--results',
          results,
          '--json',
        ]),
      ),
    );
    expect(result.code, result.stderr).toBe(1);
    const output = json<{ runs: { modelLabel: string; status: string; error?: string }[] }>(result);
    expect(output.runs.map((r) => [r.modelLabel, r.status, r.error])).toEqual([
      ['crash-exit', 'failed', EXIT_MESSAGE],
      ['crash-throw', 'failed', THROW_MESSAGE],
      ['lstm', 'done', undefined],
    ]);
    const errors = query<{ model_label: string; message: string; stack: string | null }>(
      results,
      `SELECT runs.model_label, errors.message, errors.stack
       FROM errors JOIN runs ON runs.id = errors.run_id ORDER BY runs.model_label`,
    );
    expect(errors.map((e) => [e.model_label, e.message])).toEqual([
      ['crash-exit', EXIT_MESSAGE],
      ['crash-throw', THROW_MESSAGE],
    ]);
    expect(errors[1]?.stack).toContain('crash-plugin.mjs');
    await stop(worker.child);
  }, 120_000);

  it('refuses a second coordinator of the same queue and store', async () => {
    const results = join(dir, 'two-coordinators');
    const first = startBench(5, results);
    const firstDone = finished(first);
    let stderr = '';
    first.stderr?.on('data', (s: Buffer) => (stderr += s.toString('utf8')));
    await waitFor('the first coordinator to enqueue', () => stderr.includes('enqueued'), 30_000);
    const started = Date.now();
    const second = await finished(startBench(5, results, '--json'));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /another mann bench is already the coordinator of queue redis:\/\/127\.0\.0\.1:\d+\/5 \(host .+, pid \d+/,
    );
    expect(second.stderr).toContain(`pid ${first.pid}`);
    expect(Date.now() - started).toBeLessThan(15_000);
    await stop(first);
    await firstDone;
  }, 60_000);

  it('fails within seconds, writing nothing, when Redis is unreachable or the URL malformed', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const cases: [string[], RegExp][] = [
      [['bench', '--queue', closed], /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/],
      [['worker', '--queue', closed], /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/],
      [
        ['bench', '--queue', 'http://127.0.0.1:6379'],
        /--queue must be a Redis URL .*'http:\/\/127\.0\.0\.1:6379' \(scheme 'http'/,
      ],
      [['worker', '--queue', 'localhost:6379'], /--queue must be a Redis URL/],
    ];
    for (const [args, message] of cases) {
      const results = join(dir, `bad-${cases.findIndex((c) => c[0] === args)}`);
      const started = Date.now();
      const extra = args[0] === 'bench' ? ['--suite', suitePath, '--results', results] : [];
      const result = await mann(...args, ...extra);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(Date.now() - started, args.join(' ')).toBeLessThan(10_000);
      expect(existsSync(results), args.join(' ')).toBe(false);
    }
  }, 120_000);
});

describe('queue URLs, job ids, failure messages and Redis settings', () => {
  it('words a dead sandboxed process as a local benchmark does; keeps other reasons', () => {
    expect(failureMessage('Unexpected exit code: 3 signal: null')).toBe(EXIT_MESSAGE);
    expect(failureMessage('Unexpected exit code: null signal: SIGKILL')).toBe(
      'worker process exited unexpectedly (code null, signal SIGKILL) during this run',
    );
    expect(failureMessage('job stalled more than allowable limit')).toBe(
      'job stalled more than allowable limit',
    );
    expect(failureMessage(undefined)).toBe('the job failed without a reason');
  });

  it('warns about settings that lose jobs: eviction, no append-only file', () => {
    expect(settingsWarnings({ maxmemoryPolicy: 'noeviction', appendonly: 'yes' })).toEqual([]);
    expect(settingsWarnings({})).toEqual([]);
    const warnings = settingsWarnings({ maxmemoryPolicy: 'allkeys-lru', appendonly: 'no' });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('maxmemory-policy allkeys-lru');
    expect(warnings[0]).toContain('set maxmemory-policy noeviction');
    expect(warnings[1]).toContain('set appendonly yes');
  });

  it('parses redis URLs and names the flag and value of a bad one', () => {
    expect(parseQueueUrl('redis://example.org')).toMatchObject({
      host: 'example.org',
      port: 6379,
      db: 0,
      tls: false,
    });
    expect(parseQueueUrl('rediss://u:p%40ss@10.0.0.2:7000/3')).toMatchObject({
      host: '10.0.0.2',
      port: 7000,
      db: 3,
      tls: true,
      username: 'u',
      password: 'p@ss',
      shown: 'rediss://u:***@10.0.0.2:7000/3',
    });
    expect(() => parseQueueUrl('redis://h:1/a')).toThrow(
      "--queue must be a Redis URL redis://host:port[/db], got 'redis://h:1/a' (database 'a' is not a number)",
    );
    expect(() => parseQueueUrl('redis://h/1?x=1')).toThrow('query strings');
    expect(() => parseQueueUrl('redis://h:99999')).toThrow("got 'redis://h:99999' (not a URL)");
    expect(() => parseQueueUrl('localhost:6379')).toThrow(
      "(scheme 'localhost' is not redis or rediss)",
    );
    expect(() => parseQueueUrl('', '--queue')).toThrow("got '' (not a URL)");
  });

  it('makes job ids that keep run ids apart and hold no colon', () => {
    expect(jobIdOf('s/copy/ntm/s1-abc')).toBe('s/copy/ntm/s1-abc');
    expect(jobIdOf('s/copy/a:b/s1')).toBe('s/copy/a%3Ab/s1');
    expect(jobIdOf('s/copy/a%3Ab/s1')).toBe('s/copy/a%253Ab/s1');
  });
});
