/**
 * Vega-Lite specs of the report's charts. Pure functions: data in, spec out; rendering to SVG
 * is render.ts's job. Every chart shares {@link CHART_CONFIG} so the report reads as one.
 */

import type { Config, TopLevelSpec } from 'vega-lite';

import { generalisationSeries, learningCurveSeries, modelOrder } from './series.js';
import type { CurvePoint, EvaluationRecord, RunRecord } from './types.js';

/** Font stack of the charts; the same as the report's CSS. */
export const CHART_FONT =
  'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

/** Look shared by every chart. */
export const CHART_CONFIG: Config = {
  font: CHART_FONT,
  background: 'white',
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', subtitleColor: '#555' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 500, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 500 },
  view: { stroke: '#ddd' },
};

/** Default plot area of the curve charts, pixels. */
export const DEFAULT_CHART_WIDTH = 420;
export const DEFAULT_CHART_HEIGHT = 260;

/** Options of the curve charts. */
export interface CurveChartOptions {
  /**
   * Model labels in colour order, so a model keeps its colour across tasks.
   * Default: the order in which the task's runs name them.
   */
  readonly models?: readonly string[];
  /** Plot width in pixels. Default {@link DEFAULT_CHART_WIDTH}. */
  readonly width?: number;
  /** Plot height in pixels. Default {@link DEFAULT_CHART_HEIGHT}. */
  readonly height?: number;
  /**
   * Logarithmic y axis, which shows small values next to large ones (the tail of training
   * where convergence is decided, a memory model's errors next to the LSTM's). Points with a
   * non-positive value cannot be drawn on it and are left out. Default false.
   */
  readonly logY?: boolean;
}

/**
 * Learning curves of `task`: bits per sequence on the evaluation set (`eval` curve points)
 * against sequences seen, one colour per model; the line is the mean over seeds and the band
 * spans min to max. `train` points and failed runs are ignored.
 */
export function learningCurveSpec(
  task: string,
  curves: readonly CurvePoint[],
  runs: readonly RunRecord[],
  options: CurveChartOptions = {},
): TopLevelSpec {
  const logY = options.logY ?? false;
  const values = learningCurveSeries(task, curves, runs).filter(
    (point) => !logY || (point.min > 0 && point.mean > 0),
  );
  const yScale = logY ? { type: 'log' as const } : { zero: true };
  return {
    title: {
      text: `${task}: learning curves`,
      subtitle: 'evaluation set · line: mean over seeds · band: min to max',
    },
    width: options.width ?? DEFAULT_CHART_WIDTH,
    height: options.height ?? DEFAULT_CHART_HEIGHT,
    config: CHART_CONFIG,
    data: { values: values.map((point) => ({ ...point })) },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: 'sequences seen',
        axis: { format: ',d' },
      },
      color: modelColour(options.models ?? modelOrder(runs.filter((r) => r.task === task))),
    },
    layer: [
      {
        mark: { type: 'area', opacity: 0.18 },
        encoding: {
          y: { field: 'min', type: 'quantitative', scale: yScale },
          y2: { field: 'max' },
        },
      },
      {
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          y: {
            field: 'mean',
            type: 'quantitative',
            scale: yScale,
            title: logY ? 'cost, bits per sequence (log)' : 'cost, bits per sequence',
          },
        },
      },
    ],
  };
}

/**
 * Generalisation of `task`: bit errors per sequence against the evaluation sets' numeric `x`
 * (e.g. sequence length), one colour per model; points are means over seeds, error bars span
 * min to max. Evaluations without an `x` (the training set) are left out.
 */
export function generalisationSpec(
  task: string,
  evaluations: readonly EvaluationRecord[],
  runs: readonly RunRecord[],
  options: CurveChartOptions = {},
): TopLevelSpec {
  const logY = options.logY ?? false;
  const values = generalisationSeries(task, evaluations, runs).filter(
    (point) => !logY || (point.min > 0 && point.mean > 0),
  );
  const yScale = logY ? { type: 'log' as const } : { zero: true };
  const taskRuns = new Set(runs.filter((r) => r.task === task).map((r) => r.id));
  const sets = evaluations.filter((e) => e.x !== null && taskRuns.has(e.runId)).map((e) => e.set);
  return {
    title: {
      text: `${task}: generalisation`,
      subtitle: 'point: mean over seeds · bar: min to max',
    },
    width: options.width ?? DEFAULT_CHART_WIDTH,
    height: options.height ?? DEFAULT_CHART_HEIGHT,
    config: CHART_CONFIG,
    data: { values: values.map((point) => ({ ...point })) },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: axisTitleOfSets(sets),
        scale: { zero: false, padding: 16 },
      },
      color: modelColour(options.models ?? modelOrder(runs.filter((r) => r.task === task))),
    },
    layer: [
      {
        mark: { type: 'errorbar', ticks: true },
        encoding: {
          y: {
            field: 'min',
            type: 'quantitative',
            scale: yScale,
            title: logY ? 'bit errors per sequence (log)' : 'bit errors per sequence',
          },
          y2: { field: 'max' },
        },
      },
      {
        mark: { type: 'line', point: { filled: true, size: 50 }, strokeWidth: 2 },
        encoding: { y: { field: 'mean', type: 'quantitative', scale: yScale } },
      },
    ],
  };
}

/**
 * The x axis title of generalisation sets named like `length-20`, `length-40`: `length`.
 * Sets without a common `<name>-<number>` pattern give the neutral `x`.
 */
export function axisTitleOfSets(sets: readonly string[]): string {
  const names = new Set(sets.map((set) => /^(.*?)[-_ ]?\d+(\.\d+)?$/.exec(set)?.[1] ?? ''));
  const [name] = names;
  return names.size === 1 && name !== undefined && name !== '' ? name : 'x';
}

function modelColour(models: readonly string[]) {
  return {
    field: 'model',
    type: 'nominal' as const,
    title: 'model',
    scale: { domain: [...models], scheme: 'tableau10' },
    // Lines in the legend, at full opacity (the bands would make them pale).
    legend: { symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 3 },
  };
}
