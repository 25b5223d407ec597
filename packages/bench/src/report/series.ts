/**
 * The data behind the charts: learning and generalisation curves aggregated over seeds.
 * Pure functions of the report data, so the numbers a chart draws can be tested directly.
 */

import { spreadOf } from './stats.js';
import type { CurvePoint, EvaluationRecord, RunRecord } from './types.js';

/** One x position of a model's curve, aggregated over its seeds. */
export interface SeriesPoint {
  readonly model: string;
  readonly x: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  /** Seeds that have a value at this x. */
  readonly seeds: number;
}

/**
 * Runs of `task` whose curves and evaluations are shown: everything but failed runs
 * (a failed run's truncated curve would distort the mean), in the order given.
 */
export function chartedRuns(task: string, runs: readonly RunRecord[]): RunRecord[] {
  return runs.filter((run) => run.task === task && run.status !== 'failed');
}

/** Model labels in order of first appearance; fixes each model's colour across charts. */
export function modelOrder(runs: readonly RunRecord[]): string[] {
  return [...new Set(runs.map((run) => run.modelLabel))];
}

/**
 * Learning curve of each model on `task`: bits per sequence of the `eval` points against
 * sequences seen, mean / min / max over seeds at each number of sequences. Seeds are matched
 * on the exact sequence count (runs of one suite evaluate at the same counts).
 */
export function learningCurveSeries(
  task: string,
  curves: readonly CurvePoint[],
  runs: readonly RunRecord[],
): SeriesPoint[] {
  const modelOf = modelByRun(chartedRuns(task, runs));
  const values = new Map<string, Map<number, number[]>>();
  for (const point of curves) {
    const model = modelOf.get(point.runId);
    if (model === undefined || point.kind !== 'eval') continue;
    push(values, model, point.sequences, point.bitsPerSequence);
  }
  return toSeries(values);
}

/**
 * Generalisation curve of each model on `task`: bit errors per sequence of the evaluations
 * that have a numeric `x` (e.g. `length-40` with x = 40), mean / min / max over seeds.
 */
export function generalisationSeries(
  task: string,
  evaluations: readonly EvaluationRecord[],
  runs: readonly RunRecord[],
): SeriesPoint[] {
  const modelOf = modelByRun(chartedRuns(task, runs));
  const values = new Map<string, Map<number, number[]>>();
  for (const evaluation of evaluations) {
    const model = modelOf.get(evaluation.runId);
    if (model === undefined || evaluation.x === null) continue;
    push(values, model, evaluation.x, evaluation.bitErrorsPerSequence);
  }
  return toSeries(values);
}

function modelByRun(runs: readonly RunRecord[]): Map<string, string> {
  return new Map(runs.map((run) => [run.id, run.modelLabel]));
}

function push(
  values: Map<string, Map<number, number[]>>,
  model: string,
  x: number,
  value: number,
): void {
  let byX = values.get(model);
  if (byX === undefined) values.set(model, (byX = new Map()));
  const list = byX.get(x);
  if (list === undefined) byX.set(x, [value]);
  else list.push(value);
}

function toSeries(values: Map<string, Map<number, number[]>>): SeriesPoint[] {
  const series: SeriesPoint[] = [];
  for (const [model, byX] of values) {
    const xs = [...byX.keys()].sort((a, b) => a - b);
    for (const x of xs) {
      const spread = spreadOf(byX.get(x) ?? []);
      if (spread === null) continue;
      series.push({
        model,
        x,
        mean: spread.mean,
        min: spread.min,
        max: spread.max,
        seeds: spread.n,
      });
    }
  }
  return series;
}
