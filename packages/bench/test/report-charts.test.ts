import { describe, expect, it } from 'vitest';

import { axisTitleOfSets, generalisationSpec, learningCurveSpec } from '../src/report/charts.js';
import { memoryPanels, memoryPictureSpec } from '../src/report/memory-picture.js';
import { renderSvg } from '../src/report/render.js';
import type { MemoryPicture } from '../src/report/types.js';
import {
  MODELS,
  memoryPicture,
  PICTURE_CHANNELS,
  PICTURE_LENGTH,
  PICTURE_SLOTS,
  reportData,
} from './fixtures/report/report-data.js';
import { markCounts } from './fixtures/report/svg.js';

/** The inline data of a single-view or layered spec. */
function values(spec: object): Record<string, unknown>[] {
  return (spec as { data: { values: Record<string, unknown>[] } }).data.values;
}

describe('learningCurveSpec', () => {
  it('draws a mean line and a min-max band per model from the eval points', async () => {
    const data = reportData();
    const spec = learningCurveSpec('copy', data.curves, data.runs);
    // 3 models x 10 eval points; train points are not drawn.
    expect(values(spec)).toHaveLength(MODELS.length * 10);
    const svg = await renderSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(markCounts(svg)).toMatchObject({ area: MODELS.length, line: MODELS.length });
    expect(svg).toContain('copy: learning curves');
  });

  it('leaves failed runs out and can use a log axis', () => {
    const data = reportData();
    const spec = learningCurveSpec('repeat-copy', data.curves, data.runs, { logY: true });
    const dnc = values(spec).filter((v) => v.model === 'dnc');
    expect(dnc.every((v) => v.seeds === 1)).toBe(true);
    expect(JSON.stringify(spec)).toContain('"type":"log"');
  });

  it('drops the points a log axis cannot show', () => {
    const data = reportData();
    const curves = data.curves.map((p) =>
      p.sequences === 4000 ? { ...p, bitsPerSequence: 0 } : p,
    );
    const linear = learningCurveSpec('copy', curves, data.runs);
    const log = learningCurveSpec('copy', curves, data.runs, { logY: true });
    expect(values(linear).length - values(log).length).toBe(MODELS.length);
  });
});

describe('generalisationSpec', () => {
  it('draws mean points and min-max error bars against the sets x', async () => {
    const data = reportData();
    const spec = generalisationSpec('copy', data.evaluations, data.runs);
    expect(values(spec).map((v) => v.x)).toEqual([20, 40, 20, 40, 20, 40]);
    expect(JSON.stringify(spec)).toContain('"title":"length"');
    const counts = markCounts(await renderSvg(spec));
    expect(counts.line).toBe(MODELS.length);
    expect(counts.symbol).toBe(MODELS.length * 2);
    // The error bars: one rule per point (and ticks at their ends).
    expect(counts.rule).toBeGreaterThanOrEqual(MODELS.length * 2);
  });

  it("names the x axis after this task's sets only", () => {
    const data = reportData();
    const other = data.runs.find((r) => r.task !== 'copy');
    expect(other).toBeDefined();
    const evaluations = [
      ...data.evaluations,
      {
        runId: other!.id,
        set: 'items-8',
        x: 8,
        bitsPerSequence: 1,
        bitErrorsPerSequence: 1,
        sequenceAccuracy: 0,
      },
    ];
    expect(JSON.stringify(generalisationSpec('copy', evaluations, data.runs))).toContain(
      '"title":"length"',
    );
  });

  it('names the x axis after the sets', () => {
    expect(axisTitleOfSets(['length-20', 'length-40'])).toBe('length');
    expect(axisTitleOfSets(['repeats_4', 'repeats_8'])).toBe('repeats');
    expect(axisTitleOfSets(['length-20', 'repeats-4'])).toBe('x');
    expect(axisTitleOfSets([])).toBe('x');
  });
});

describe('memory pictures', () => {
  it('stacks inputs, targets, outputs, then the traces in the paper order', () => {
    const dnc = memoryPicture('copy/dnc/1', 'dnc', true);
    const picture = { ...dnc, traces: { linkActivity: dnc.traces.usage!, ...dnc.traces } };
    expect(memoryPanels(picture).map((p) => p.title)).toEqual([
      'inputs',
      'targets',
      'outputs',
      'write weightings (head 0)',
      'read weightings (head 0)',
      'usage',
      'link activity',
    ]);
  });

  it('draws targets and outputs on the answer steps only', () => {
    const [inputs, targets] = memoryPanels(memoryPicture('r', 'ntm', false));
    expect(inputs?.steps.filter(Boolean)).toHaveLength(2 * PICTURE_LENGTH + 1);
    expect(targets?.steps.filter(Boolean)).toHaveLength(PICTURE_LENGTH);
  });

  it('renders one heatmap rect per drawn cell', async () => {
    const svg = await renderSvg(memoryPictureSpec(memoryPicture('copy/ntm/1', 'ntm', false)));
    const steps = 2 * PICTURE_LENGTH + 1;
    const expected =
      steps * PICTURE_CHANNELS + // inputs
      2 * PICTURE_LENGTH * PICTURE_CHANNELS + // targets and outputs, answer steps
      2 * steps * PICTURE_SLOTS; // write and read weightings
    expect(markCounts(svg).rect).toBe(expected);
    for (const title of ['inputs', 'targets', 'outputs', 'read weightings (head 0)']) {
      expect(svg).toContain(`>${title}</text>`);
    }
  });

  it('says which matrix has the wrong shape', () => {
    const good = memoryPicture('copy/dnc/1', 'dnc', true);
    const short: MemoryPicture = {
      ...good,
      traces: { ...good.traces, usage: good.traces.usage!.slice(1) },
    };
    expect(() => memoryPanels(short)).toThrow(
      'memory picture of run copy/dnc/1: usage has 16 time steps, expected 17 (as inputs)',
    );
    const ragged: MemoryPicture = { ...good, outputs: [[1], ...good.outputs.slice(1)] };
    expect(() => memoryPanels(ragged)).toThrow(
      /outputs is ragged: row 1 has 9 entries, row 0 has 1/,
    );
  });
});
