// `mann bench` killed and resumed: a run picks up from its last checkpoint and the stored
// results end bitwise identical to those of a benchmark that was never interrupted.
// A tiny suite (an LSTM and an NTM on 4-bit copy) on two worker processes.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
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
} from './cli-helpers.js';

const SUITE = {
  name: 'tiny',
  description: 'kill-and-resume test suite',
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
  seeds: [1],
  // 150 updates of 16; evaluation every 20 updates; a checkpoint every 10.
  training: {
    sequences: 2400,
    batchSize: 16,
    evalEvery: 320,
    evalSize: 32,
    checkpointEvery: 10,
  },
};

interface BenchOutput {
  suite: string;
  runs: { id: string; modelLabel: string; status: string; sequences: number }[];
  failed: unknown[];
  report: { htmlPath: string; markdownPath: string };
}

let suitePath: string;
let reference: string;

const benchArgs = (results: string): string[] => [
  'bench',
  '--suite',
  suitePath,
  '--workers',
  '2',
  '--results',
  results,
  '--json',
];

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

/** The state a checkpoint holds: SHA-256 of its tensor data, trainer state, data generator state. */
function checkpointState(path: string) {
  const bytes = readFileSync(path);
  const length = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.subarray(12, 12 + length).toString('utf8')) as {
    trainer: unknown;
    metadata: { session: unknown };
  };
  // The float data lies between the 4-byte-aligned end of the header and the trailing digest.
  const data = bytes.subarray(12 + length + ((4 - ((12 + length) % 4)) % 4), -32);
  const sha256 = createHash('sha256').update(data).digest('hex');
  return { sha256, trainer: header.trainer, session: header.metadata.session };
}

/** Asserts that `results` holds the same measurements and final checkpoints as `reference`. */
function expectSameAsReference(results: string): void {
  const expected = measured(reference);
  const actual = measured(results);
  expect(actual.runs).toEqual(expected.runs);
  // Row counts first: a missing point shows as such rather than as a long diff.
  const points = (m: typeof actual): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const p of m.curve as { run_id: string; kind: string }[]) {
      const key = `${p.run_id} ${p.kind}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };
  expect(points(actual)).toEqual(points(expected));
  expect(actual.curve).toEqual(expected.curve);
  expect(actual.evaluations).toEqual(expected.evaluations);
  expect(actual.pictures).toEqual(expected.pictures);
  expect(actual.errors).toEqual([]);
  expect(checkpoints(results).sort()).toEqual(checkpoints(reference).sort());
  for (const file of checkpoints(reference)) {
    expect(checkpointState(join(results, 'checkpoints', file)), file).toEqual(
      checkpointState(join(reference, 'checkpoints', file)),
    );
  }
}

/** Starts the benchmark into `results`, waits for a checkpoint of the NTM run (not the last). */
async function startUntilNtmCheckpoint(results: string) {
  const child = startMann(benchArgs(results));
  const output = finished(child);
  const ntmCheckpoint = () => checkpoints(results).find((f) => f.includes('__ntm__'));
  await waitFor(
    'a checkpoint of the ntm run',
    () => ntmCheckpoint() !== undefined || child.exitCode !== null,
  );
  expect(child.exitCode, 'the benchmark ended before it could be interrupted').toBeNull();
  const workers = childrenOf(child.pid!);
  expect(workers.length).toBeGreaterThan(0);
  return { child, output, workers };
}

/**
 * When a checkpoint file of the NTM run was last written: the run's checkpoint or any file a
 * worker wrote on its way there, except the temporary files of an unfinished write.
 */
function lastNtmCheckpointWrite(results: string): number {
  const dir = join(results, 'checkpoints');
  let last = 0;
  for (const file of readdirSync(dir)) {
    if (!file.includes('__ntm__') || file.includes('.tmp-')) continue;
    try {
      last = Math.max(last, statSync(join(dir, file)).mtimeMs);
    } catch {
      // renamed while we looked
    }
  }
  return last;
}

/** Kills the parent with SIGKILL; its workers must notice ('disconnect') and exit. */
async function killParent(
  child: ReturnType<typeof startMann>,
  output: ReturnType<typeof finished>,
  workers: number[],
) {
  child.kill('SIGKILL');
  expect((await output).signal).toBe('SIGKILL');
  await waitFor(
    'the orphaned workers to exit',
    () => workers.every((pid) => !isRunning(pid)),
    15_000,
  );
}

beforeAll(async () => {
  const dir = await scratchDir('resume');
  suitePath = await writeSuite(dir, SUITE);
  reference = join(dir, 'reference');
  const result = await mann(...benchArgs(reference));
  expect(result.code, result.stderr).toBe(0);
}, 120_000);
afterAll(removeScratch);

describe('mann bench, killed and resumed', () => {
  it('resumes the unfinished runs and ends bitwise identical to an uninterrupted run', async () => {
    const results = await scratchDir('killed');
    const { child, output, workers } = await startUntilNtmCheckpoint(results);
    await killParent(child, output, workers);

    const atKill = query<{ model_label: string; status: string; attempts: number }>(
      results,
      'SELECT model_label, status, attempts FROM runs ORDER BY model_label',
    );
    const unfinished = atKill.filter((r) => r.status !== 'done').map((r) => r.model_label);
    expect(unfinished).toContain('ntm');

    const resumed = await mann(...benchArgs(results));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(
      `suite tiny: 2 runs, ${2 - unfinished.length} already done, ${unfinished.length} to run`,
    );
    const out = json<BenchOutput>(resumed);
    expect(out.runs.map((r) => [r.modelLabel, r.status])).toEqual([
      ['lstm', 'done'],
      ['ntm', 'done'],
    ]);
    const attempts = query<{ model_label: string; attempts: number }>(
      results,
      'SELECT model_label, attempts FROM runs ORDER BY model_label',
    );
    expect(attempts).toEqual(
      atKill.map((r) => ({
        model_label: r.model_label,
        attempts: unfinished.includes(r.model_label) ? 2 : 1,
      })),
    );
    expectSameAsReference(results);
  }, 120_000);

  it('loses nothing when the parent stalls before it dies (a checkpoint is ahead of the database)', async () => {
    // The parent stops reading its workers' events (SIGSTOP) while they train on and write
    // the next checkpoint; then it dies. The events before that checkpoint never reached the
    // database, yet the resumed run starts after it: its curve would have a gap.
    const results = await scratchDir('stalled');
    const { child, output, workers } = await startUntilNtmCheckpoint(results);
    const written = lastNtmCheckpointWrite(results);
    child.kill('SIGSTOP');
    try {
      await waitFor(
        'the worker to write the next checkpoint of the ntm run',
        () => lastNtmCheckpointWrite(results) > written,
      );
    } finally {
      await killParent(child, output, workers);
    }
    const resumed = await mann(...benchArgs(results));
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameAsReference(results);
  }, 120_000);

  it('gives the runs left the threads of the whole suite, so a resumed run sums as before', async () => {
    // With the LSTM run done, only the NTM's is left: one worker process, which once gave it
    // every core (2 threads here, a different summation order than the reference's 1 thread).
    const results = join(await scratchDir('resume-threads'), 'results');
    const first = await mann(...benchArgs(results), '--models', 'lstm');
    expect(first.code, first.stderr).toBe(0);
    const rest = await mann(...benchArgs(results));
    expect(rest.code, rest.stderr).toBe(0);
    const threads = Math.max(1, Math.floor(availableParallelism() / 2));
    expect(rest.stderr).toContain(
      `1 to run on 1 worker process, ${threads} training thread${threads === 1 ? '' : 's'} each`,
    );
    const ntm = (m: ReturnType<typeof measured>) =>
      (m.curve as { run_id: string }[]).filter((p) => p.run_id.includes('/ntm/'));
    expect(ntm(measured(results)).length).toBeGreaterThan(0);
    expect(ntm(measured(results))).toEqual(ntm(measured(reference)));
  });

  it('skips every run of a finished suite', async () => {
    const before = measured(reference);
    const again = await mann(...benchArgs(reference));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('suite tiny: 2 runs, 2 already done, 0 to run');
    expect(json<BenchOutput>(again).runs.map((r) => r.status)).toEqual(['done', 'done']);
    expect(query(reference, 'SELECT attempts FROM runs')).toEqual([
      { attempts: 1 },
      { attempts: 1 },
    ]);
    expect(measured(reference)).toEqual(before);
  });
});
