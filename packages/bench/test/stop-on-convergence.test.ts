// Stop on convergence (`training.stopAt`): the budget is a cap, a run stops at the first
// evaluation that meets its target, records when, and a resumed run stops where an
// uninterrupted one does. In process, on a tiny LSTM on 4-bit copy (a few seconds).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { registerBuiltins } from '../src/builtins.js';
import { commitCheckpoint, executeRun, meetsStopCondition, type RunEvent } from '../src/runner.js';
import { DEFAULT_TRAINING, resolveTraining, runId, type RunSpec } from '../src/spec.js';
import type { CurvePoint } from '../src/report/types.js';
import { ResultsStore } from '../src/store.js';

registerBuiltins();
const scratch = mkdtempSync(join(tmpdir(), 'mann-stop-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function spec(training: Partial<RunSpec['training']>): RunSpec {
  const base: Omit<RunSpec, 'id'> = {
    suite: 'stop-test',
    model: { label: 'lstm', config: { type: 'lstm', hiddenSizes: [16] } },
    task: { name: 'copy', params: { bits: 4, maxLength: 3 }, generalisation: [] },
    seed: 3,
    // 120 updates of 8; an evaluation every 10 updates, a checkpoint every 7
    training: resolveTraining(
      {
        ...DEFAULT_TRAINING,
        sequences: 960,
        batchSize: 8,
        optimizer: { kind: 'adam', learningRate: 1e-2 },
        evalEvery: 80,
        evalSize: 16,
        checkpointEvery: 7,
      },
      training,
      'test',
    ),
  };
  return { id: runId(base), ...base };
}

/**
 * Runs `run` in `dir`, committing checkpoints as the benchmark's parent does; `stopAfter`
 * throws at the first checkpoint event past that update (an interruption).
 */
async function execute(run: RunSpec, dir: string, stopAfter?: number): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  await executeRun(run, {
    resultsDir: dir,
    emit: (event) => {
      events.push(event);
      if (event.type === 'checkpoint') {
        commitCheckpoint(event.staged, dir, event.runId);
        if (stopAfter !== undefined && event.step > stopAfter) throw new Error('interrupted');
      }
    },
  });
  return events;
}

const evalPoints = (events: RunEvent[]): CurvePoint[] =>
  events.flatMap((e) => (e.type === 'curve' && e.point.kind === 'eval' ? [e.point] : []));
const done = (events: RunEvent[]) => events.find((e) => e.type === 'done');
const withoutTime = (points: CurvePoint[]) =>
  points.map(({ wallMs: _, runId: __, ...rest }) => rest);

/** The whole budget without a target (the reference learning curve), run once for every test. */
let fullRun: Promise<RunEvent[]> | undefined;
const fullEvents = (): Promise<RunEvent[]> =>
  (fullRun ??= execute(spec({}), join(scratch, 'full')));

/**
 * A target (bits per sequence) first met at an evaluation in the middle of the full run's
 * curve, below every earlier point; returns it with its index.
 */
function middleTarget(curve: CurvePoint[]): { k: number; target: CurvePoint; below: number } {
  const k = curve.findIndex(
    (p, i) => i >= 4 && curve.slice(0, i).every((q) => q.bitsPerSequence > p.bitsPerSequence),
  );
  expect(k, 'the cost must fall somewhere after the fourth evaluation').toBeGreaterThan(0);
  const target = curve[k] as CurvePoint;
  const earlierBest = Math.min(...curve.slice(0, k).map((p) => p.bitsPerSequence));
  return { k, target, below: (target.bitsPerSequence + earlierBest) / 2 };
}

describe('training.stopAt', () => {
  it('is validated, naming the field and the value', () => {
    const where = 'suite x';
    const resolve = (stopAt: unknown) =>
      resolveTraining(DEFAULT_TRAINING, { stopAt } as Partial<RunSpec['training']>, where);
    expect(resolve({ metric: 'bitErrorsPerSequence', below: 0.1 }).stopAt).toEqual({
      metric: 'bitErrorsPerSequence',
      below: 0.1,
    });
    expect(() => resolve({ metric: 'accuracy', below: 0.1 })).toThrow(
      /training\.stopAt\.metric must be one of bitErrorsPerSequence, bitsPerSequence, got accuracy/,
    );
    expect(() => resolve({ metric: 'bitsPerSequence', below: 0 })).toThrow(
      /training\.stopAt\.below must be a finite number > 0, got 0/,
    );
    expect(() => resolve({ metric: 'bitsPerSequence', below: 1, window: 5 })).toThrow(
      /unknown training\.stopAt option 'window'; valid options: metric, below, trainOn/,
    );
    expect(resolve({ metric: 'bitsPerSequence', below: 1, trainOn: 500 }).stopAt).toEqual({
      metric: 'bitsPerSequence',
      below: 1,
      trainOn: 500,
    });
    expect(() => resolve({ metric: 'bitsPerSequence', below: 1, trainOn: -8 })).toThrow(
      /training\.stopAt\.trainOn must be a whole number >= 0, got -8/,
    );
    expect(() => resolve({ metric: 'bitsPerSequence', below: 1, trainOn: '100' })).toThrow(
      /training\.stopAt\.trainOn must be a whole number >= 0, got 100/,
    );
    expect(() => resolve(0.1)).toThrow(/training\.stopAt must be \{ metric/);
  });

  it('is met strictly below the target', () => {
    const scores = { bitsPerSequence: 2, bitErrorsPerSequence: 0.1 };
    expect(meetsStopCondition(undefined, scores)).toBe(false);
    expect(meetsStopCondition({ metric: 'bitErrorsPerSequence', below: 0.1 }, scores)).toBe(false);
    expect(meetsStopCondition({ metric: 'bitErrorsPerSequence', below: 0.11 }, scores)).toBe(true);
    expect(meetsStopCondition({ metric: 'bitsPerSequence', below: 2.5 }, scores)).toBe(true);
  });

  it('stops at the first evaluation below the target; a resumed run stops there too', async () => {
    // The whole budget, without a target: the reference learning curve.
    const full = await fullEvents();
    const curve = evalPoints(full);
    expect(curve.length).toBe(13); // at 0 and every 10 of the 120 updates
    expect(done(full)).toMatchObject({ sequences: 960 });
    expect(done(full)).not.toHaveProperty('converged');
    const { k, target, below } = middleTarget(curve);
    const stopping = spec({ stopAt: { metric: 'bitsPerSequence', below } });

    const dir = join(scratch, 'stopping');
    const events = await execute(stopping, dir);
    const finished = done(events);
    expect(finished).toMatchObject({
      step: target.step,
      sequences: target.sequences,
      converged: { step: target.step, sequences: target.sequences },
    });
    // the same curve as the full run up to the target, nothing after it
    expect(withoutTime(evalPoints(events))).toEqual(withoutTime(curve.slice(0, k + 1)));
    const trainSteps = events.flatMap((e) => (e.type === 'progress' ? [e.step] : []));
    expect(Math.max(...trainSteps)).toBe(target.step);
    // the last checkpoint is at the stop, with its convergence
    const checkpointsAt = events.flatMap((e) => (e.type === 'checkpoint' ? [e.step] : []));
    expect(checkpointsAt.at(-1)).toBe(target.step);
    const convergedMs = finished?.type === 'done' ? (finished.converged?.wallMs ?? -1) : -1;
    expect(convergedMs).toBeGreaterThan(0);

    // Interrupted before the target, then resumed: stops at the same evaluation.
    const resumedDir = join(scratch, 'resumed');
    const interruptAt = Math.max(1, target.step - 12);
    await expect(execute(stopping, resumedDir, interruptAt)).rejects.toThrow('interrupted');
    const resumed = await execute(stopping, resumedDir);
    expect(resumed[0]).toMatchObject({ type: 'start' });
    const fromStep = resumed[0]?.type === 'start' ? resumed[0].fromStep : -1;
    expect(fromStep).toBeGreaterThan(0);
    expect(fromStep).toBeLessThan(target.step);
    expect(done(resumed)).toMatchObject({
      sequences: target.sequences,
      converged: { step: target.step, sequences: target.sequences },
    });
    expect(withoutTime(evalPoints(resumed))).toEqual(
      withoutTime(curve.slice(0, k + 1).filter((p) => p.step > fromStep)),
    );

    // Resumed once more after it converged: no further training, the same convergence.
    const again = await execute(stopping, dir);
    expect(again.some((e) => e.type === 'progress')).toBe(false);
    expect(done(again)).toMatchObject({
      sequences: target.sequences,
      converged: { step: target.step, sequences: target.sequences, wallMs: convergedMs },
    });
  }, 120_000);

  it('with trainOn, trains that many sequences past the target, resumed or not', async () => {
    const full = await fullEvents();
    const curve = evalPoints(full);
    const { k, target, below } = middleTarget(curve);
    // 60 sequences: rounded up to 8 updates of 8, between two evaluations (every 10 updates)
    // and past the first checkpoint (every 7) after the target
    const stopStep = target.step + 8;
    expect(stopStep).toBeLessThan(120);
    const onward = spec({ stopAt: { metric: 'bitsPerSequence', below, trainOn: 60 } });
    const dir = join(scratch, 'train-on');
    const events = await execute(onward, dir);
    expect(done(events)).toMatchObject({
      step: stopStep,
      sequences: stopStep * 8,
      converged: { step: target.step, sequences: target.sequences },
    });
    expect(withoutTime(evalPoints(events))).toEqual(withoutTime(curve.slice(0, k + 1)));
    const checkpointsAt = events.flatMap((e) => (e.type === 'checkpoint' ? [e.step] : []));
    expect(checkpointsAt.at(-1)).toBe(stopStep);
    // the final evaluation is of the model at the stop, not at the target
    const finalTrain = (list: RunEvent[]) =>
      list.find((e) => e.type === 'evaluation' && e.record.set === 'train');
    const atStop = finalTrain(events);
    const bitsAtStop = atStop?.type === 'evaluation' ? atStop.record.bitsPerSequence : NaN;
    expect(Number.isFinite(bitsAtStop)).toBe(true);
    expect(bitsAtStop).not.toBe(target.bitsPerSequence);

    // Interrupted after the target and before the stop, then resumed: the same stop and model.
    const resumedDir = join(scratch, 'train-on-resumed');
    await expect(execute(onward, resumedDir, target.step)).rejects.toThrow('interrupted');
    const resumed = await execute(onward, resumedDir);
    const fromStep = resumed[0]?.type === 'start' ? resumed[0].fromStep : -1;
    expect(fromStep).toBeGreaterThan(target.step);
    expect(fromStep).toBeLessThan(stopStep);
    expect(done(resumed)).toMatchObject({
      step: stopStep,
      converged: { step: target.step, sequences: target.sequences },
    });
    expect(finalTrain(resumed)).toEqual(atStop);
    const again = await execute(onward, dir);
    expect(again.some((e) => e.type === 'progress')).toBe(false);
    expect(done(again)).toMatchObject({ step: stopStep });

    // A trainOn past the budget trains the whole budget and still records the convergence.
    const whole = await execute(
      spec({ stopAt: { metric: 'bitsPerSequence', below, trainOn: 960 } }),
      join(scratch, 'train-on-whole'),
    );
    expect(done(whole)).toMatchObject({
      sequences: 960,
      converged: { step: target.step, sequences: target.sequences },
    });
    expect(withoutTime(evalPoints(whole))).toEqual(withoutTime(curve));
  }, 120_000);
});

describe('the results store', () => {
  it('records when a run converged, and upgrades a database of schema version 1', () => {
    const path = join(scratch, 'store', 'results.db');
    const store = new ResultsStore(path);
    const run = spec({ stopAt: { metric: 'bitErrorsPerSequence', below: 0.1 } });
    const other = spec({ sequences: 80 });
    store.addRuns([run, other]);
    store.finishRun(run.id, {
      steps: 30,
      sequences: 240,
      wallMs: 900,
      converged: { sequences: 240, wallMs: 850 },
    });
    store.finishRun(other.id, { steps: 10, sequences: 80, wallMs: 300 });
    const byId = new Map(store.runs().map((r) => [r.id, r]));
    expect(byId.get(run.id)?.converged).toEqual({ sequences: 240, wallMs: 850 });
    expect(byId.get(other.id)).not.toHaveProperty('converged');
    store.close();

    // A version-1 database: the same tables without the convergence columns.
    const old = join(scratch, 'old', 'results.db');
    const v1 = new ResultsStore(old);
    v1.addRuns([other]);
    v1.close();
    downgradeToVersion1(old);
    const upgraded = new ResultsStore(old);
    expect(upgraded.runs().map((r) => r.id)).toEqual([other.id]);
    upgraded.finishRun(other.id, {
      steps: 10,
      sequences: 80,
      wallMs: 300,
      converged: { sequences: 80, wallMs: 290 },
    });
    expect(upgraded.runs()[0]?.converged).toEqual({ sequences: 80, wallMs: 290 });
    upgraded.close();
  });
});

/** Drops the columns schema versions 2 and 3 added, as a database written by an older mann. */
function downgradeToVersion1(path: string): void {
  const db = new Database(path);
  db.exec('ALTER TABLE evaluations DROP COLUMN scores');
  db.exec('ALTER TABLE runs DROP COLUMN converged_sequences');
  db.exec('ALTER TABLE runs DROP COLUMN converged_wall_ms');
  db.prepare('UPDATE meta SET value = ? WHERE key = ?').run('1', 'schema_version');
  db.close();
}
