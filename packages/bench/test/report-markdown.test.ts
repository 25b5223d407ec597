import { describe, expect, it } from 'vitest';

import { buildMarkdown } from '../src/report/markdown.js';
import type { ReportData } from '../src/report/types.js';
import { FAILED_RUN_ID, reportData } from './fixtures/report/report-data.js';

describe('buildMarkdown', () => {
  const markdown = buildMarkdown(reportData());
  const lines = markdown.split('\n');

  it('has the header and points to the HTML report', () => {
    expect(lines[0]).toBe('# mann bench: quick suite');
    expect(markdown).toContain('Generated 2025-06-01 12:34 UTC · backend `wasm` · 2 x Intel(R)');
    expect(markdown).toContain('[index.html](index.html)');
  });

  it('has a table per task with the key numbers, numbers right-aligned', () => {
    for (const task of ['copy', 'repeat-copy']) {
      const start = lines.indexOf(`## ${task}`);
      expect(start).toBeGreaterThan(0);
      const header = lines[start + 2] ?? '';
      expect(header).toMatch(
        /^\| Model \| Parameters \| Seeds done \| Sequences to convergence \| Time to convergence \|/,
      );
      expect(header).toContain('| length-20 bit errors/seq | length-40 bit errors/seq |');
      expect(lines[start + 3]).toBe(`| --- |${' ---: |'.repeat(10)}`);
      expect(lines.slice(start + 4, start + 7).map((l) => l.split(' | ')[0])).toEqual([
        '| ntm',
        '| dnc',
        '| lstm',
      ]);
    }
    expect(markdown).toContain(
      '| ntm | 67,208 | 2/2 | 30,000 (2/2) | 23m 49s | 0.0641 ± 0.051 | 0.016 ± 0.013 |',
    );
    expect(markdown).toContain('| lstm | 1,353,737 | 2/2 | not reached (0/2) |');
    expect(markdown).toContain('| 31m 45s | 21 |');
  });

  it('has a line per failed run, on one line', () => {
    expect(markdown).toContain(
      `- **Failed** \`${FAILED_RUN_ID}\` (dnc, seed 2): NaN loss at step 812 (learning rate 1e-3) at Trainer.step`,
    );
    const dnc = lines.find((l) => l.startsWith('| dnc') && l.includes('1/2'));
    expect(dnc).toContain('36,000 (1/1)');
  });

  it('escapes pipes in cells', () => {
    const data = reportData();
    const tricky: ReportData = {
      ...data,
      runs: data.runs.map((r) => (r.modelLabel === 'lstm' ? { ...r, modelLabel: 'a|b' } : r)),
    };
    expect(buildMarkdown(tricky)).toContain('| a\\|b (lstm) |');
  });

  it('says when there are no runs', () => {
    expect(buildMarkdown({ ...reportData(), runs: [] })).toContain('No runs yet.');
  });
});
