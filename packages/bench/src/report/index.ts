/**
 * The bench report: an HTML file with tables and charts (Vega-Lite rendered to inline SVG)
 * and a Markdown summary, both built from the results database's {@link ReportData}.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MannError } from '@mann/core';

import { buildHtml } from './html.js';
import { buildMarkdown, HTML_REPORT_FILE } from './markdown.js';
import type { ReportData } from './types.js';

/** File name of the Markdown summary. */
export const MARKDOWN_SUMMARY_FILE = 'summary.md';

/**
 * Writes `index.html` and `summary.md` of `data` into `outDir` (created if missing). Each file
 * is written to a temporary file in the same directory and renamed over the old one, so a
 * reader never sees half a report. Returns the absolute paths.
 */
export async function writeReport(
  data: ReportData,
  outDir: string,
): Promise<{ htmlPath: string; markdownPath: string }> {
  const dir = resolve(outDir);
  await mkdir(dir, { recursive: true });
  const html = await buildHtml(data);
  const htmlPath = join(dir, HTML_REPORT_FILE);
  const markdownPath = join(dir, MARKDOWN_SUMMARY_FILE);
  await writeAtomically(htmlPath, html);
  await writeAtomically(markdownPath, buildMarkdown(data));
  return { htmlPath, markdownPath };
}

/** The text of `path`; a MannError naming `option` and the path when it cannot be read. */
export async function readTextOrFail(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new MannError(`${option} ${path}: cannot read it (${(error as Error).message})`);
  }
}

/** Writes `text` to `path` through a temporary sibling file and a rename. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text, 'utf8');
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export { replaceMarkedBlock } from './marked.js';
export { buildHtml, htmlTable, spansDecades, LOG_SCALE_MIN_RATIO } from './html.js';
export { buildMarkdown, markdownTable, HTML_REPORT_FILE } from './markdown.js';
export { buildMemoryPictureHtml, VISUALIZE_PICTURE_WIDTH } from './visualize.js';
export { renderSvg } from './render.js';
export {
  learningCurveSpec,
  generalisationSpec,
  axisTitleOfSets,
  CHART_CONFIG,
  DEFAULT_CHART_WIDTH,
  DEFAULT_CHART_HEIGHT,
} from './charts.js';
export type { CurveChartOptions } from './charts.js';
export { memoryPanels, memoryPictureSpec, MEMORY_PICTURE_WIDTH } from './memory-picture.js';
export type { MemoryPanel, MemoryPictureOptions } from './memory-picture.js';
export { learningCurveSeries, generalisationSeries, modelOrder } from './series.js';
export type { SeriesPoint } from './series.js';
export {
  summariseTasks,
  sequencesToConvergence,
  convergencePoint,
  runConvergence,
  TRAINING_SET,
} from './summary.js';
export type {
  ConvergenceSummary,
  FailedRunSummary,
  GeneralisationSummary,
  ModelSummary,
  TaskSummary,
} from './summary.js';
export { summaryTable, formatConvergence, TABLE_NOTE } from './table.js';
export type { Column, SummaryTable } from './table.js';
export {
  formatCount,
  formatDuration,
  formatNumber,
  formatSpread,
  formatTimestamp,
} from './format.js';
export { spreadOf, medianOf } from './stats.js';
export type { Spread } from './stats.js';
export { CONVERGENCE_BIT_ERRORS } from './types.js';
export type {
  CurvePoint,
  EvaluationRecord,
  MemoryPicture,
  ReportData,
  RunRecord,
} from './types.js';
