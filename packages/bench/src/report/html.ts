/** The HTML report: one self-contained file with the tables, the charts and the memory pictures. */

import type { TopLevelSpec } from 'vega-lite';

import { generalisationSpec, learningCurveSpec } from './charts.js';
import { escapeHtml, formatCount, formatTimestamp } from './format.js';
import { memoryPictureSpec } from './memory-picture.js';
import { hostCounts, hostRows } from './hosts.js';
import { figure, htmlPage, slug } from './page.js';
import { renderSvg } from './render.js';
import { generalisationSeries, learningCurveSeries, modelOrder } from './series.js';
import { summariseTasks, type TaskSummary } from './summary.js';
import { summaryTable, TABLE_NOTE, type SummaryTable } from './table.js';
import type { MemoryPicture, ReportData, RunRecord } from './types.js';

/**
 * A curve chart gets a log y axis when its values are all positive and span at least this
 * ratio (two decades): the tail of training, and a memory model's few errors next to the
 * LSTM's many, are then visible.
 */
export const LOG_SCALE_MIN_RATIO = 100;

/**
 * The HTML report of `data`: a header (title, date, backend, machine, run counts), then per
 * task its table, failed runs, learning curves and generalisation curves, then the memory
 * pictures. Every chart is Vega-Lite rendered to inline SVG. A chart that cannot be drawn is
 * replaced by its error message, so one bad picture does not cost the whole report.
 */
export async function buildHtml(data: ReportData): Promise<string> {
  const summaries = summariseTasks(data);
  const models = modelOrder(data.runs);
  const ids = uniqueIds(summaries.map((s) => `task-${slug(s.task)}`));
  const sections = await Promise.all(
    summaries.map((summary, i) => taskSection(data, summary, models, ids[i] as string)),
  );
  const pictures = await picturesSection(data.pictures);
  return htmlPage(
    data.title,
    [header(data, summaries, ids), ...sections, hostsSection(data), pictures].join('\n'),
  );
}

function header(data: ReportData, summaries: readonly TaskSummary[], ids: readonly string[]) {
  const count = (status: RunRecord['status']): number =>
    data.runs.filter((r) => r.status === status).length;
  const failed = count('failed');
  const runs =
    `${formatCount(data.runs.length)} runs: ${formatCount(count('done'))} done, ` +
    `${formatCount(count('running'))} running, ${formatCount(count('pending'))} pending, ` +
    `${formatCount(failed)} failed`;
  const links = summaries.map((s, i) => `<li><a href="#${ids[i]}">${escapeHtml(s.task)}</a></li>`);
  const hosts = hostRows(data);
  if (hosts.length > 0) links.push('<li><a href="#hosts">hosts</a></li>');
  links.push('<li><a href="#memory-pictures">memory pictures</a></li>');
  return `<header>
<h1>${escapeHtml(data.title)}</h1>
<dl class="meta">
<dt>Generated</dt><dd>${escapeHtml(formatTimestamp(data.generatedAt))}</dd>
<dt>Backend</dt><dd>${escapeHtml(data.backend)}</dd>
<dt>Machine</dt><dd>${escapeHtml(data.machine)}</dd>
${hosts.length > 0 ? `<dt>Hosts</dt><dd>${escapeHtml(hostCounts(hosts))}</dd>\n` : ''}<dt>Runs</dt><dd${failed > 0 ? ' class="error"' : ''}>${escapeHtml(runs)}</dd>
</dl>
<nav><ul>${links.join('')}</ul></nav>
<p class="note">${escapeHtml(TABLE_NOTE)}</p>
</header>`;
}

/** Which machine ran each run (queue mode only; empty for a local benchmark). */
function hostsSection(data: ReportData): string {
  const rows = hostRows(data);
  if (rows.length === 0) return '';
  const body = rows
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.task)}</td><td>${escapeHtml(r.modelLabel)}</td><td class="num">${r.seed}</td><td>${escapeHtml(r.host)}</td><td>${escapeHtml(r.runId)}</td></tr>`,
    )
    .join('\n');
  return `<section id="hosts">
<h2>Hosts</h2>
<div class="table-wrap"><table>
<thead><tr><th>Task</th><th>Model</th><th class="num">Seed</th><th>Host</th><th>Run</th></tr></thead>
<tbody>
${body}
</tbody>
</table></div>
</section>`;
}

async function taskSection(
  data: ReportData,
  summary: TaskSummary,
  models: readonly string[],
  id: string,
): Promise<string> {
  const { task } = summary;
  const series = learningCurveSeries(task, data.curves, data.runs);
  const charts: Promise<string>[] = [];
  if (series.length > 0) {
    const logY = spansDecades(series.flatMap((p) => [p.min, p.max]));
    charts.push(
      chart(
        () => learningCurveSpec(task, data.curves, data.runs, { models, logY }),
        `The learning curves of ${task}`,
      ),
    );
  }
  const generalisation = generalisationSeries(task, data.evaluations, data.runs);
  if (generalisation.length > 0) {
    const logY = spansDecades(generalisation.flatMap((p) => [p.min, p.max]));
    charts.push(
      chart(
        () => generalisationSpec(task, data.evaluations, data.runs, { models, logY }),
        `The generalisation curves of ${task}`,
      ),
    );
  }
  const rendered = await Promise.all(charts);
  return `<section id="${escapeHtml(id)}">
<h2>${escapeHtml(task)}</h2>
${htmlTable(summaryTable(summary))}
${failedRuns(summary)}
${rendered.length > 0 ? `<div class="charts">${rendered.join('\n')}</div>` : '<p class="note">No evaluation points yet.</p>'}
</section>`;
}

/** The summary table as HTML, numeric columns right-aligned. */
export function htmlTable(table: SummaryTable): string {
  const cls = (align: string): string => (align === 'right' ? ' class="num"' : '');
  const head = table.columns
    .map((c) => `<th scope="col"${cls(c.align)}>${escapeHtml(c.title)}</th>`)
    .join('');
  const body = table.rows
    .map(
      (row) =>
        `<tr>${row.map((cell, j) => `<td${cls(table.columns[j]?.align ?? 'left')}>${escapeHtml(cell)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<div class="table-wrap"><table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

function failedRuns(summary: TaskSummary): string {
  if (summary.failed.length === 0) return '';
  const items = summary.failed.map(
    (f) =>
      `<li><code>${escapeHtml(f.runId)}</code> (${escapeHtml(f.modelLabel)}, seed ${f.seed}): ` +
      `<code class="message">${escapeHtml(f.error)}</code></li>`,
  );
  return `<div class="failed"><h3>Failed runs (${summary.failed.length})</h3><ul>${items.join('')}</ul></div>`;
}

async function picturesSection(pictures: readonly MemoryPicture[]): Promise<string> {
  const figures = await Promise.all(
    pictures.map((picture) =>
      chart(() => memoryPictureSpec(picture), `The memory picture of run ${picture.runId}`),
    ),
  );
  const body =
    figures.length > 0
      ? `<div class="charts">${figures.join('\n')}</div>`
      : '<p class="note">No memory pictures recorded.</p>';
  return `<section id="memory-pictures">
<h2>Memory pictures</h2>
<p class="note">One sample per picture, as in figure 6 of the NTM paper: time runs left to right;
targets and outputs are drawn on the answer steps only; weightings and usage are per memory slot.
Colour runs from 0 (dark) to 1 (yellow).</p>
${body}
</section>`;
}

/**
 * Builds and renders a chart into a figure (charts carry their own titles), or puts an error
 * note naming the chart (`name`) in its place.
 */
async function chart(build: () => TopLevelSpec, name: string): Promise<string> {
  try {
    return figure(await renderSvg(build()));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `<p class="error">${escapeHtml(`${name} could not be drawn: ${message}`)}</p>`;
  }
}

/** Whether the positive values span at least {@link LOG_SCALE_MIN_RATIO} and none is <= 0. */
export function spansDecades(values: readonly number[]): boolean {
  if (values.length === 0 || values.some((v) => !(v > 0))) return false;
  const max = values.reduce((a, b) => Math.max(a, b));
  const min = values.reduce((a, b) => Math.min(a, b));
  return max / min >= LOG_SCALE_MIN_RATIO;
}

function uniqueIds(ids: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return ids.map((id) => {
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return n === 1 ? id : `${id}-${n}`;
  });
}
