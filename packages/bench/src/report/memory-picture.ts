/**
 * Memory pictures like figure 6 of the NTM paper (Graves et al., 2014): heatmaps stacked over
 * a shared time axis — inputs, targets, outputs, then the traces of the memory (write and read
 * weightings of head 0, and usage for the DNC). One Vega-Lite spec per picture.
 */

import type { TopLevelSpec } from 'vega-lite';

import { CHART_CONFIG } from './charts.js';
import type { MemoryPicture } from './types.js';

/** One heatmap of a memory picture. */
export interface MemoryPanel {
  /** `inputs`, `targets`, `outputs`, or the trace's name (`readWeights`). */
  readonly name: string;
  readonly title: string;
  /** What the rows are: `channel` or `slot`. */
  readonly rowTitle: string;
  /** [T][rows] */
  readonly matrix: readonly (readonly number[])[];
  /** Time steps drawn (others left blank): all, or the answer steps for targets and outputs. */
  readonly steps: readonly boolean[];
}

/** Default width of a picture's time axis, pixels (the cell width aims for it). */
export const MEMORY_PICTURE_WIDTH = 420;

/** Options of {@link memoryPictureSpec}. */
export interface MemoryPictureOptions {
  /**
   * Width of the time axis the cells aim for, pixels; a cell is 2 to 32 px wide whatever the
   * number of time steps. Default {@link MEMORY_PICTURE_WIDTH}.
   */
  readonly width?: number;
}

const TRACE_TITLES: Readonly<Record<string, string>> = {
  writeWeights: 'write weightings (head 0)',
  readWeights: 'read weightings (head 0)',
  usage: 'usage',
};

/**
 * The panels of `picture` in the paper's order: inputs, targets, outputs, then the traces,
 * known ones first (write weightings, read weightings, usage). Targets and outputs show only
 * the answer steps (`mask` = 1) when the mask marks any; the model's other outputs are ignored
 * by the loss.
 *
 * @throws if a matrix does not have one row per time step of `inputs` or is ragged.
 */
export function memoryPanels(picture: MemoryPicture): MemoryPanel[] {
  const steps = picture.inputs.length;
  const all = Array.from({ length: steps }, () => true);
  const answers = picture.mask.length === steps && picture.mask.some((m) => m > 0);
  const answerSteps = answers ? picture.mask.map((m) => m > 0) : all;
  const traceNames = Object.keys(picture.traces).sort(
    (a, b) => traceRank(a) - traceRank(b) || a.localeCompare(b),
  );
  const panels: MemoryPanel[] = [
    panel('inputs', 'inputs', 'channel', picture.inputs, all),
    panel('targets', 'targets', 'channel', picture.targets, answerSteps),
    panel('outputs', 'outputs', 'channel', picture.outputs, answerSteps),
    ...traceNames.map((name) =>
      panel(name, TRACE_TITLES[name] ?? words(name), 'slot', picture.traces[name] ?? [], all),
    ),
  ];
  for (const { name, matrix } of panels) checkMatrix(picture, name, matrix, steps);
  return panels;
}

/**
 * The Vega-Lite spec of `picture`: its {@link memoryPanels} as heatmaps stacked vertically,
 * time on x, channel or slot on y (row 0 at the top), one viridis colour scale from 0 to 1
 * shared by all panels (values outside are clamped), so weightings read as sharp or diffuse.
 */
export function memoryPictureSpec(
  picture: MemoryPicture,
  options: MemoryPictureOptions = {},
): TopLevelSpec {
  const panels = memoryPanels(picture);
  const steps = picture.inputs.length;
  const width = options.width ?? MEMORY_PICTURE_WIDTH;
  const cellWidth = clamp(Math.round(width / Math.max(steps, 1)), 2, 32);
  return {
    title: {
      text: `${picture.modelLabel} on ${picture.task}`,
      subtitle: `run ${picture.runId} · ${steps} time steps`,
    },
    config: { ...CHART_CONFIG, concat: { spacing: 14 } },
    resolve: { scale: { color: 'shared' }, legend: { color: 'shared' } },
    vconcat: panels.map((p, index) => {
      const rows = p.matrix[0]?.length ?? 0;
      const cellHeight = clamp(Math.round(200 / Math.max(rows, 1)), 2, 16);
      const last = index === panels.length - 1;
      return {
        title: { text: p.title, fontSize: 12, fontWeight: 500 },
        width: steps * cellWidth,
        height: Math.max(rows * cellHeight, 12),
        data: { values: cells(p) },
        mark: { type: 'rect' as const, aria: false },
        encoding: {
          x: {
            field: 't0',
            type: 'quantitative' as const,
            scale: { domain: [-0.5, steps - 0.5], nice: false, zero: false },
            axis: { title: last ? 'time step' : null, tickMinStep: 1, format: 'd', grid: false },
          },
          x2: { field: 't1' },
          y: {
            field: 'r0',
            type: 'quantitative' as const,
            scale: { domain: [-0.5, rows - 0.5], nice: false, zero: false, reverse: true },
            axis: {
              title: p.rowTitle,
              tickMinStep: 1,
              format: 'd',
              grid: false,
              minExtent: 28,
              maxExtent: 28,
            },
          },
          y2: { field: 'r1' },
          color: {
            field: 'v',
            type: 'quantitative' as const,
            title: 'value',
            scale: { scheme: 'viridis', domain: [0, 1], clamp: true },
          },
        },
      };
    }),
  };
}

function panel(
  name: string,
  title: string,
  rowTitle: string,
  matrix: readonly (readonly number[])[],
  steps: readonly boolean[],
): MemoryPanel {
  return { name, title, rowTitle, matrix, steps };
}

interface Cell {
  /** Left and right edge of the cell on the time axis; time step t is centred on t. */
  readonly t0: number;
  readonly t1: number;
  /** Top and bottom edge of the cell on the row axis; row r is centred on r. */
  readonly r0: number;
  readonly r1: number;
  /** Value, rounded to 4 decimals (smaller data, no visible difference). */
  readonly v: number;
}

/** One rect per (time step, row) of the panel's drawn steps. */
function cells(p: MemoryPanel): Cell[] {
  const values: Cell[] = [];
  p.matrix.forEach((row, t) => {
    if (p.steps[t] !== true) return;
    row.forEach((v, r) => {
      values.push({
        t0: t - 0.5,
        t1: t + 0.5,
        r0: r - 0.5,
        r1: r + 0.5,
        v: Math.round(v * 1e4) / 1e4,
      });
    });
  });
  return values;
}

function checkMatrix(
  picture: MemoryPicture,
  name: string,
  matrix: readonly (readonly number[])[],
  steps: number,
): void {
  const where = `memory picture of run ${picture.runId}: ${name}`;
  if (matrix.length !== steps) {
    throw new Error(`${where} has ${matrix.length} time steps, expected ${steps} (as inputs)`);
  }
  const width = matrix[0]?.length ?? 0;
  const ragged = matrix.findIndex((row) => row.length !== width);
  if (ragged >= 0) {
    throw new Error(
      `${where} is ragged: row ${ragged} has ${matrix[ragged]?.length} entries, row 0 has ${width}`,
    );
  }
}

function traceRank(name: string): number {
  const rank = Object.keys(TRACE_TITLES).indexOf(name);
  return rank < 0 ? Number.MAX_SAFE_INTEGER : rank;
}

/** `linkActivity` -> `link activity`. */
function words(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
