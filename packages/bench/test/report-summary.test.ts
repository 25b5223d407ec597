import { describe, expect, it } from 'vitest';

import { generalisationSeries, learningCurveSeries } from '../src/report/series.js';
import { sequencesToConvergence, summariseTasks } from '../src/report/summary.js';
import { formatConvergence, summaryTable } from '../src/report/table.js';
import type { CurvePoint, EvaluationRecord, ReportData, RunRecord } from '../src/report/types.js';

function run(id: string, fields: Partial<RunRecord>): RunRecord {
  return {
    id,
    suite: 'quick',
    modelLabel: 'ntm',
    modelType: 'ntm',
    task: 'copy',
    seed: 1,
    status: 'done',
    parameters: 100,
    sequenceBudget: 3000,
    sequences: 3000,
    steps: 300,
    wallMs: 60_000,
    backend: 'cpu',
    spec: {},
    ...fields,
  };
}

function point(runId: string, sequences: number, errors: number, kind: 'train' | 'eval' = 'eval') {
  return {
    runId,
    kind,
    step: sequences / 10,
    sequences,
    bitsPerSequence: errors * 10,
    bitErrorsPerSequence: errors,
    wallMs: sequences * 20,
  } satisfies CurvePoint;
}

function evaluation(runId: string, set: string, x: number | null, bits: number, errors: number) {
  return {
    runId,
    set,
    x,
    bitsPerSequence: bits,
    bitErrorsPerSequence: errors,
    sequenceAccuracy: 0.5,
  } satisfies EvaluationRecord;
}

/**
 * Hand-made: two finished ntm seeds that converge at 2,000 and 3,000 sequences, a failed
 * ntm seed, an lstm that never converges, a dnc still running.
 */
function handMade(): Pick<ReportData, 'runs' | 'curves' | 'evaluations'> {
  return {
    runs: [
      run('ntm-1', { seed: 1, wallMs: 60_000 }),
      run('ntm-2', { seed: 2, wallMs: 120_000 }),
      run('ntm-3', { seed: 3, status: 'failed', error: 'boom', sequences: 500 }),
      run('lstm-1', { modelLabel: 'lstm', modelType: 'lstm', parameters: 5000 }),
      run('dnc-1', { modelLabel: 'dnc', modelType: 'dnc', status: 'running', sequences: 10 }),
    ],
    curves: [
      // Out of order on purpose; the train point below the threshold must not count.
      point('ntm-1', 3000, 0.01),
      point('ntm-1', 500, 0, 'train'),
      point('ntm-1', 1000, 0.5),
      point('ntm-1', 2000, 0.09),
      point('ntm-2', 1000, 0.1), // not below the threshold: it is strict
      point('ntm-2', 2000, 0.2),
      point('ntm-2', 3000, 0.05),
      point('ntm-3', 1000, 0.01), // failed run: ignored
      point('lstm-1', 1000, 5),
      point('lstm-1', 2000, 4),
      point('dnc-1', 1000, 0.01), // still running: not final, ignored by the table
    ],
    evaluations: [
      evaluation('ntm-1', 'train', null, 0.4, 0.02),
      evaluation('ntm-2', 'train', null, 0.6, 0.04),
      evaluation('ntm-1', 'length-40', 40, 50, 5),
      evaluation('ntm-1', 'length-20', 20, 10, 1),
      evaluation('ntm-2', 'length-20', 20, 30, 3),
      evaluation('ntm-1', 'noisy', null, 1, 0.5),
      evaluation('lstm-1', 'train', null, 40, 4),
    ],
  };
}

describe('sequencesToConvergence', () => {
  it('is the first eval point strictly below the threshold, by sequences seen', () => {
    const { curves } = handMade();
    expect(sequencesToConvergence(curves.filter((p) => p.runId === 'ntm-1'))).toBe(2000);
    expect(sequencesToConvergence(curves.filter((p) => p.runId === 'ntm-2'))).toBe(3000);
    expect(sequencesToConvergence(curves.filter((p) => p.runId === 'lstm-1'))).toBeNull();
    expect(
      sequencesToConvergence(
        curves.filter((p) => p.runId === 'lstm-1'),
        4.5,
      ),
    ).toBe(2000);
  });
});

describe('summariseTasks', () => {
  const [copy] = summariseTasks(handMade());

  it('has one row per model in the order of the runs', () => {
    expect(copy?.task).toBe('copy');
    expect(copy?.models.map((m) => m.modelLabel)).toEqual(['ntm', 'lstm', 'dnc']);
  });

  it('counts seeds and takes convergence as the median over the seeds that converged', () => {
    const ntm = copy?.models[0];
    expect(ntm).toMatchObject({ parameters: 100, seedsDone: 2, seedsTotal: 3 });
    // wall time at 2,000 and 3,000 sequences: 40 s and 60 s
    expect(ntm?.convergence).toEqual({
      medianSequences: 2500,
      medianWallMs: 50_000,
      converged: 2,
      seeds: 2,
    });
    const none = { medianSequences: null, medianWallMs: null, converged: 0 };
    expect(copy?.models[1]?.convergence).toEqual({ ...none, seeds: 1 });
    expect(copy?.models[2]?.convergence).toEqual({ ...none, seeds: 0 });
  });

  it('takes the convergence a run recorded when it stopped on its own target', () => {
    const data = handMade();
    const runs = data.runs.map((r) =>
      r.id === 'lstm-1' ? { ...r, converged: { sequences: 1500, wallMs: 7_000 } } : r,
    );
    const [task] = summariseTasks({ ...data, runs });
    // the curve of lstm-1 never falls below 0.1; its recorded convergence counts
    expect(task?.models[1]?.convergence).toEqual({
      medianSequences: 1500,
      medianWallMs: 7_000,
      converged: 1,
      seeds: 1,
    });
  });

  it('averages the final evaluation, wall time and throughput over finished seeds', () => {
    const ntm = copy?.models[0];
    expect(ntm?.finalCost?.mean).toBeCloseTo(0.5, 12);
    expect(ntm?.finalCost?.sd).toBeCloseTo(Math.SQRT2 / 10, 12);
    expect(ntm?.finalBitErrors?.mean).toBeCloseTo(0.03, 12);
    expect(ntm?.wallMs?.mean).toBe(90_000);
    // 3000 sequences in 60 s and in 120 s: 50 and 25 per second.
    expect(ntm?.sequencesPerSecond?.mean).toBe(37.5);
    expect(copy?.models[2]?.finalCost).toBeNull();
  });

  it('orders generalisation sets by x, sets without x last, and averages them', () => {
    expect(copy?.generalisationSets).toEqual([
      { set: 'length-20', x: 20 },
      { set: 'length-40', x: 40 },
      { set: 'noisy', x: null },
    ]);
    const ntm = copy?.models[0];
    expect(ntm?.generalisation.map((g) => [g.set, g.bitErrors.mean, g.bitErrors.n])).toEqual([
      ['length-20', 2, 2],
      ['length-40', 5, 1],
      ['noisy', 0.5, 1],
    ]);
    expect(copy?.models[1]?.generalisation).toEqual([]);
  });

  it('lists failed runs with their error', () => {
    expect(copy?.failed).toEqual([{ runId: 'ntm-3', modelLabel: 'ntm', seed: 3, error: 'boom' }]);
  });
});

describe('summaryTable', () => {
  it('formats the rows, with a column per generalisation set', () => {
    const [copy] = summariseTasks(handMade());
    const table = summaryTable(copy!);
    expect(table.columns.map((c) => c.title)).toContain('length-40 bit errors/seq');
    expect(table.columns[0]?.align).toBe('left');
    expect(table.columns.slice(1).every((c) => c.align === 'right')).toBe(true);
    expect(table.rows[0]).toEqual([
      'ntm',
      '100',
      '2/3',
      '2,500 (2/2)',
      '50 s',
      '0.5 ± 0.14',
      '0.03 ± 0.014',
      '2 ± 1.4',
      '5',
      '0.5',
      '1m 30s',
      '37.5',
    ]);
    expect(table.rows[1]?.[3]).toBe('not reached (0/1)');
    expect(table.rows[2]?.slice(2, 5)).toEqual(['0/1', '—', '—']);
  });

  it('formats convergence', () => {
    expect(
      formatConvergence({ medianSequences: 12800, medianWallMs: 1000, converged: 3, seeds: 4 }),
    ).toBe('12,800 (3/4)');
  });
});

describe('chart series', () => {
  it('learning curves: eval points of unfailed runs, mean / min / max per sequences seen', () => {
    const data = handMade();
    const series = learningCurveSeries('copy', data.curves, data.runs);
    expect(series.filter((p) => p.model === 'ntm')).toEqual([
      { model: 'ntm', x: 1000, mean: 3, min: 1, max: 5, seeds: 2 },
      {
        model: 'ntm',
        x: 2000,
        mean: expect.closeTo(1.45),
        min: expect.closeTo(0.9),
        max: 2,
        seeds: 2,
      },
      { model: 'ntm', x: 3000, mean: expect.closeTo(0.3), min: 0.1, max: 0.5, seeds: 2 },
    ]);
    expect(series.filter((p) => p.model === 'dnc')).toHaveLength(1);
    expect(learningCurveSeries('other', data.curves, data.runs)).toEqual([]);
  });

  it('generalisation: evaluations with an x, mean / min / max per x', () => {
    const data = handMade();
    expect(generalisationSeries('copy', data.evaluations, data.runs)).toEqual([
      { model: 'ntm', x: 20, mean: 2, min: 1, max: 3, seeds: 2 },
      { model: 'ntm', x: 40, mean: 5, min: 5, max: 5, seeds: 1 },
    ]);
  });
});
