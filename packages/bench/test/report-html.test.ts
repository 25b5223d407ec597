import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildHtml, spansDecades } from '../src/report/html.js';
import { buildMemoryPictureHtml, writeReport } from '../src/report/index.js';
import type { ReportData } from '../src/report/types.js';
import { FAILED_RUN_ID, memoryPicture, reportData, TASKS } from './fixtures/report/report-data.js';
import { markCounts, svgElements } from './fixtures/report/svg.js';

/** Learning and generalisation curves per task, then one chart per memory picture. */
const EXPECTED_CHARTS = TASKS.length * 2 + 2;

/** Anything that would make the browser fetch: URLs in src/href, scripts, links, imports. */
function externalReferences(html: string): string[] {
  const patterns = [
    /\b(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?\/\/[^"'\s>]*/gi,
    /<script\b[^>]*\bsrc\b/gi,
    /<link\b/gi,
    /@import\b/gi,
    /url\(\s*["']?\s*(?:https?:)?\/\//gi,
  ];
  return patterns.flatMap((p) => html.match(p) ?? []);
}

describe('buildHtml', () => {
  let html = '';
  beforeAll(async () => {
    html = await buildHtml(reportData());
  });

  it('is one self-contained document', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(externalReferences(html)).toEqual([]);
    expect(html).not.toMatch(/<script\b/i);
    expect(html).toContain("default-src 'none'");
  });

  it('has one SVG per expected chart, each with marks', () => {
    const svgs = svgElements(html);
    expect(svgs).toHaveLength(EXPECTED_CHARTS);
    expect((html.match(/<svg\b/g) ?? []).length).toBe(EXPECTED_CHARTS);
    for (const svg of svgs) {
      const counts = markCounts(svg);
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }
    const titles = [
      'copy: learning curves',
      'copy: generalisation',
      'repeat-copy: learning curves',
      'repeat-copy: generalisation',
      'ntm on copy',
      'dnc on copy',
    ];
    titles.forEach((title, i) => expect(svgs[i]).toContain(`>${title}</text>`));
  });

  it('draws the memory pictures as heatmaps', () => {
    const pictures = svgElements(html).slice(-2);
    expect(markCounts(pictures[0] ?? '').rect).toBeGreaterThan(500);
    expect(markCounts(pictures[1] ?? '').rect).toBeGreaterThan(markCounts(pictures[0] ?? '').rect!);
  });

  it('has the header, a section and table per task, and the failed run', () => {
    expect(html).toContain('<h1>mann bench: quick suite</h1>');
    expect(html).toContain('<dd>2025-06-01 12:34 UTC</dd>');
    expect(html).toContain('<dd>wasm</dd>');
    expect(html).toContain('12 runs: 11 done, 0 running, 0 pending, 1 failed');
    for (const task of TASKS) expect(html).toContain(`<section id="task-${task}">`);
    expect((html.match(/<table>/g) ?? []).length).toBe(TASKS.length);
    expect(html).toContain('<td class="num">67,208</td>');
    expect(html).toContain('Failed runs (1)');
    expect(html).toContain(`<code>${FAILED_RUN_ID}</code>`);
    expect(html).toContain('NaN loss at step 812');
  });

  it('gives every element id once', () => {
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('escapes text from the data', async () => {
    const base = reportData();
    const runs = base.runs.map((r) => (r.task === 'copy' ? { ...r, task: '<i>copy</i> & co' } : r));
    const data: ReportData = { ...base, title: '<b>bench</b>', runs, pictures: [] };
    const escaped = await buildHtml(data);
    expect(escaped).toContain('<h1>&lt;b&gt;bench&lt;/b&gt;</h1>');
    expect(escaped).toContain('<h2>&lt;i&gt;copy&lt;/i&gt; &amp; co</h2>');
    expect(escaped).toContain('&lt;i&gt;copy&lt;/i&gt; &amp; co: learning curves</text>');
    expect(escaped).not.toMatch(/<[bi]>/);
    expect(escaped).toContain('No memory pictures recorded.');
  });

  it('replaces a chart that cannot be drawn by its error and keeps the rest', async () => {
    const good = memoryPicture('copy/ntm/1', 'ntm', false);
    const bad = { ...good, runId: 'bad-run', targets: good.targets.slice(2) };
    const data: ReportData = { ...reportData(), pictures: [bad, good] };
    const withError = await buildHtml(data);
    expect(withError).toContain(
      'The memory picture of run bad-run could not be drawn: memory picture of run bad-run: targets has 15 time steps',
    );
    expect(svgElements(withError)).toHaveLength(EXPECTED_CHARTS - 1);
  });
});

describe('spansDecades', () => {
  it('asks for a log axis when positive values span two decades', () => {
    expect(spansDecades([0.5, 60])).toBe(true);
    expect(spansDecades([0.5, 40])).toBe(false);
    expect(spansDecades([0, 60])).toBe(false);
    expect(spansDecades([])).toBe(false);
  });
});

describe('buildMemoryPictureHtml', () => {
  it('is a self-contained page with the heatmaps of one picture', async () => {
    const html = await buildMemoryPictureHtml(memoryPicture('copy/dnc/1', 'dnc', true));
    expect(externalReferences(html)).toEqual([]);
    expect(html).toContain('<title>dnc on copy: memory at work</title>');
    expect(html).toContain('17 (8 answer steps)');
    const svgs = svgElements(html);
    expect(svgs).toHaveLength(1);
    expect(markCounts(svgs[0] ?? '').rect).toBeGreaterThan(0);
    expect(svgs[0]).toContain('>usage</text>');
  });

  it('fails on a malformed picture', async () => {
    const good = memoryPicture('r', 'ntm', false);
    await expect(buildMemoryPictureHtml({ ...good, inputs: good.inputs.slice(1) })).rejects.toThrow(
      'memory picture of run r: targets has 17 time steps, expected 16 (as inputs)',
    );
  });
});

describe('writeReport', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mann-report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes index.html and summary.md, replacing old ones, leaving no temporary files', async () => {
    const out = join(dir, 'nested', 'report');
    const data = reportData();
    const first = await writeReport({ ...data, pictures: [] }, out);
    await writeFile(join(out, 'keep.txt'), 'x');
    const { htmlPath, markdownPath } = await writeReport(data, out);
    expect([htmlPath, markdownPath]).toEqual([first.htmlPath, first.markdownPath]);
    expect(isAbsolute(htmlPath)).toBe(true);
    expect(htmlPath).toBe(join(out, 'index.html'));
    expect(markdownPath).toBe(join(out, 'summary.md'));
    expect((await readdir(out)).sort()).toEqual(['index.html', 'keep.txt', 'summary.md']);
    expect(svgElements(await readFile(htmlPath, 'utf8'))).toHaveLength(EXPECTED_CHARTS);
    expect(await readFile(markdownPath, 'utf8')).toContain('## repeat-copy');
  });
});
