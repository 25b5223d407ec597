// The report's hosts: which machine ran each run of a queued benchmark (`mann bench --queue`);
// nothing about hosts in the report of a local benchmark.
import { describe, expect, it } from 'vitest';
import { buildHtml } from '../src/report/html.js';
import { hostCounts, hostRows } from '../src/report/hosts.js';
import { buildMarkdown } from '../src/report/markdown.js';
import { reportData } from './fixtures/report/report-data.js';

const local = reportData();
const [a, b, c] = local.runs;
const queued = { ...local, hosts: { [a!.id]: 'box-2', [b!.id]: 'box-1', [c!.id]: 'box-2' } };

describe('hosts in the report', () => {
  it('lists the runs with a known host in run order, and counts runs per host', () => {
    const rows = hostRows(queued);
    expect(rows.map((r) => [r.runId, r.host])).toEqual([
      [a!.id, 'box-2'],
      [b!.id, 'box-1'],
      [c!.id, 'box-2'],
    ]);
    expect(rows[0]).toMatchObject({ task: a!.task, modelLabel: a!.modelLabel, seed: a!.seed });
    expect(hostCounts(rows)).toBe('box-1 (1 run), box-2 (2 runs)');
  });

  it('adds a Hosts section to the Markdown summary and the HTML report of a queued run', async () => {
    const markdown = buildMarkdown(queued);
    expect(markdown).toContain('## Hosts\n\nbox-1 (1 run), box-2 (2 runs)\n');
    expect(markdown).toContain(`| ${a!.task} | ${a!.modelLabel} | ${a!.seed} | box-2 | ${a!.id} |`);
    const html = await buildHtml(queued);
    expect(html).toContain('<dt>Hosts</dt><dd>box-1 (1 run), box-2 (2 runs)</dd>');
    expect(html).toContain('<section id="hosts">');
    expect(html).toContain(`<td>box-1</td><td>${b!.id}</td>`);
  }, 60_000);

  it('says nothing about hosts for a local benchmark', async () => {
    expect(hostRows(local)).toEqual([]);
    expect(buildMarkdown(local)).not.toContain('Hosts');
    expect(buildMarkdown({ ...local, hosts: {} })).toBe(buildMarkdown(local));
    expect(await buildHtml(local)).not.toContain('id="hosts"');
  }, 60_000);
});
