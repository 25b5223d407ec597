/** The Markdown summary of a report (GitHub-flavoured): the key numbers, no charts. */

import { formatTimestamp } from './format.js';
import { hostCounts, hostRows } from './hosts.js';
import { summariseTasks } from './summary.js';
import { summaryTable, TABLE_NOTE, type SummaryTable } from './table.js';
import type { ReportData } from './types.js';

/** File name of the HTML report the summary points to (written next to it). */
export const HTML_REPORT_FILE = 'index.html';

/**
 * The Markdown summary of `data`: a header, a pointer to the HTML report, then per task its
 * table and a line per failed run.
 */
export function buildMarkdown(data: ReportData): string {
  const lines: string[] = [
    `# ${inline(data.title)}`,
    '',
    `Generated ${formatTimestamp(data.generatedAt)} · backend \`${inline(data.backend)}\` · ` +
      inline(data.machine),
    '',
    `Charts (learning curves, generalisation${data.pictures.length > 0 ? ', memory pictures' : ''}): [${HTML_REPORT_FILE}](${HTML_REPORT_FILE})`,
    '',
  ];
  const summaries = summariseTasks(data);
  if (summaries.length === 0) lines.push('No runs yet.', '');
  for (const summary of summaries) {
    lines.push(`## ${inline(summary.task)}`, '', ...markdownTable(summaryTable(summary)), '');
    for (const failure of summary.failed) {
      lines.push(
        `- **Failed** \`${inline(failure.runId)}\` (${inline(failure.modelLabel)}, seed ` +
          `${failure.seed}): ${inline(failure.error)}`,
      );
    }
    if (summary.failed.length > 0) lines.push('');
  }
  if (summaries.length > 0) lines.push(`_${TABLE_NOTE}_`, '');
  const hosts = hostRows(data);
  if (hosts.length > 0) {
    lines.push('## Hosts', '', `${inline(hostCounts(hosts))}`, '');
    lines.push(
      ...markdownTable({
        columns: [
          { title: 'Task', align: 'left' },
          { title: 'Model', align: 'left' },
          { title: 'Seed', align: 'right' },
          { title: 'Host', align: 'left' },
          { title: 'Run', align: 'left' },
        ],
        rows: hosts.map((h) => [h.task, h.modelLabel, String(h.seed), h.host, h.runId]),
      }),
      '',
    );
  }
  return lines.join('\n');
}

/** GitHub-flavoured Markdown table lines of `table`. */
export function markdownTable(table: SummaryTable): string[] {
  const row = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [
    row(table.columns.map((c) => c.title)),
    `|${table.columns.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`,
    ...table.rows.map(row),
  ];
}

/** Text on one line, as a table cell or list item needs it. */
function inline(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}

function cell(text: string): string {
  return inline(text).replace(/\|/g, '\\|');
}
