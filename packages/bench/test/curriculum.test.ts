// Curricula in runs (`training.curriculum`): validated naming the field, the level advances
// on the training batches' bit errors, the checkpoint keeps the curriculum's state and a
// resumed run continues it exactly. In process, on a tiny LSTM on 4-bit copy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '@mann/core';
import { afterAll, describe, expect, it } from 'vitest';
import { registerBuiltins } from '../src/builtins.js';
import { checkpointPath, commitCheckpoint, executeRun, type RunEvent } from '../src/runner.js';
import {
  DEFAULT_TRAINING,
  expandSuite,
  resolveTraining,
  runId,
  type RunSpec,
  type SuiteSpec,
} from '../src/spec.js';
import { suiteProblems } from '../src/suite-schema.js';
import type { CurvePoint } from '../src/report/types.js';

registerBuiltins();
const scratch = mkdtempSync(join(tmpdir(), 'mann-curriculum-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const TASK = { name: 'copy', params: { bits: 4, minLength: 1, maxLength: 4 }, generalisation: [] };

function spec(training: Partial<RunSpec['training']>): RunSpec {
  const base: Omit<RunSpec, 'id'> = {
    suite: 'curriculum-test',
    model: { label: 'lstm', config: { type: 'lstm', hiddenSizes: [16] } },
    task: TASK,
    seed: 5,
    // 24 updates of 8; an evaluation every 4 updates, a checkpoint every 7
    training: resolveTraining(
      {
        ...DEFAULT_TRAINING,
        sequences: 192,
        batchSize: 8,
        optimizer: { kind: 'adam', learningRate: 1e-2 },
        evalEvery: 32,
        evalSize: 8,
        checkpointEvery: 7,
      },
      training,
      'test',
    ),
  };
  return { id: runId(base), ...base };
}

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

const evalPoints = (events: RunEvent[]) =>
  events.flatMap((e) =>
    e.type === 'curve' && e.point.kind === 'eval'
      ? [(({ wallMs: _, runId: __, ...rest }: CurvePoint) => rest)(e.point)]
      : [],
  );

async function curriculumLevel(dir: string, run: RunSpec): Promise<unknown> {
  const checkpoint = await loadCheckpoint(checkpointPath(dir, run.id));
  return (checkpoint.metadata.curriculum as { level?: number } | undefined)?.level;
}

describe('training.curriculum', () => {
  it('is validated, naming the field and the value', () => {
    const resolve = (curriculum: unknown) =>
      resolveTraining(DEFAULT_TRAINING, { curriculum } as Partial<RunSpec['training']>, 'suite x');
    const ok = { key: 'maxItems', start: 2, end: 6, threshold: 0.5 };
    expect(resolve(ok).curriculum).toEqual(ok);
    expect(() => resolve({ ...ok, levels: 3 })).toThrow(
      /suite x: training\.curriculum: unknown option 'levels'; valid options: key, start, end/,
    );
    expect(() => resolve({ ...ok, key: 3 })).toThrow(/training\.curriculum\.key/);
    expect(() => resolve({ ...ok, window: 0 })).toThrow(/training\.curriculum\.window/);
    expect(() => resolve({ ...ok, threshold: -1 })).toThrow(/training\.curriculum\.threshold/);
    expect(() => resolve('maxItems')).toThrow(/training\.curriculum must be/);
    // a key the task does not have fails when the suite is expanded, naming the task
    const suite: SuiteSpec = {
      name: 'x',
      description: '',
      models: [{ label: 'lstm', config: { type: 'lstm', hiddenSizes: [8] } }],
      tasks: [{ name: 'copy' }],
      seeds: [1],
      training: { ...DEFAULT_TRAINING, curriculum: { key: 'maxItems', start: 2, end: 6 } },
    };
    expect(() => expandSuite(suite)).toThrow(/training\.curriculum of task 'copy'.*maxItems/);
    // and it is part of the suite file schema
    expect(suiteProblems({ ...suite, training: { curriculum: ok } })).toEqual([]);
  });

  it('advances on the training batches, is kept in checkpoints and resumed exactly', async () => {
    // threshold 1000: every window of 5 batches advances (lengths 1-1, 1-2, 1-3, 1-4);
    // threshold 0: never (bit errors are never below 0)
    const advancing = spec({
      curriculum: { key: 'maxLength', start: 1, end: 4, threshold: 1000, window: 5 },
    });
    const stuck = spec({
      curriculum: { key: 'maxLength', start: 1, end: 4, threshold: 0, window: 5 },
    });
    const plain = spec({});
    // one after the other: a run selects the backend when it starts
    const runs: RunEvent[][] = [];
    for (const [run, name] of [
      [advancing, 'advancing'],
      [stuck, 'stuck'],
      [plain, 'plain'],
    ] as const) {
      runs.push(await execute(run, join(scratch, name)));
    }
    expect(await curriculumLevel(join(scratch, 'advancing'), advancing)).toBe(3);
    expect(await curriculumLevel(join(scratch, 'stuck'), stuck)).toBe(0);
    expect(await curriculumLevel(join(scratch, 'plain'), plain)).toBeUndefined();
    // the curriculum changes what the model trains on; evaluations stay on the whole task
    const [advancingCurve, stuckCurve, plainCurve] = runs.map(evalPoints);
    expect(advancingCurve?.[0]).toEqual({ ...stuckCurve?.[0] });
    expect(advancingCurve?.at(-1)).not.toEqual(stuckCurve?.at(-1));
    expect(advancingCurve?.at(-1)).not.toEqual(plainCurve?.at(-1));

    // interrupted after the checkpoint at update 7 (level 1), then resumed: the same curve
    const dir = join(scratch, 'resumed');
    await expect(execute(advancing, dir, 6)).rejects.toThrow('interrupted');
    expect(await curriculumLevel(dir, advancing)).toBe(1);
    const resumed = await execute(advancing, dir);
    const fromStep = resumed[0]?.type === 'start' ? resumed[0].fromStep : -1;
    expect(fromStep).toBe(7);
    expect(evalPoints(resumed)).toEqual(advancingCurve?.filter((p) => p.step > fromStep));
  }, 120_000);
});
