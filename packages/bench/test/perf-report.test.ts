// The page and README block of `mann perf --runs --report --readme`, from made-up runs whose
// every figure is known: targets judged run by run, misses in bold, counts, ranges, decimals.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { perfCommand } from '../src/perf/command.js';
import { removeScratch, scratchDir } from './cli-helpers.js';
import type { PerfResult } from '../src/perf/measure.js';
import type { PerfRun } from '../src/perf/run.js';
import {
  PERF_README_MARKERS,
  formatTargetValue,
  perfReadmeSummary,
  perfReportPage,
  perfTargets,
  shortModelName,
} from '../src/perf/report.js';
import { replaceMarkedBlock } from '../src/report/index.js';

const NTM = 'ntm (paper: LSTM 100, 128 x 20, 1R 1W)';
const DNC = 'dnc (default: 128 x 20, 4R 1W)';
const LSTM = 'lstm baseline (1 x 100)';

/** A result of `msPerStep` ms a step (batch 16), `ratio` times the peer's speed. */
function result(label: string, msPerStep: number, cpuMs: number, peerMs: number): PerfResult {
  return {
    label,
    sequencesPerSecond: 16_000 / msPerStep,
    msPerStep: { median: msPerStep, min: msPerStep - 1, max: msPerStep + 1 },
    cpuMsPerStep: cpuMs,
    kernelsPerStep: 100,
    ratioToPeer: peerMs / msPerStep,
  };
}

/**
 * A run with the peer at 160 ms a step, the NTM at 40 (4x), the DNC at 80 (2x), the LSTM at 16
 * (10x), and the NTM and DNC on `threads` threads at 40 / ntmSpeedup and 80 / dncSpeedup.
 */
function fakeRun(
  options: {
    ntmSpeedup?: number;
    dncSpeedup?: number;
    threads?: number;
    memoryMb?: number | null;
    layers?: readonly number[];
    startedAt?: string;
  } = {},
): PerfRun {
  const { ntmSpeedup = 1.8, dncSpeedup = 1.8, threads = 2, memoryMb = 66 } = options;
  const peer = result('peer: tf.layers.lstm(100)', 160, 160, 160);
  const ntm = result(NTM, 40, 40, 160);
  const dnc = result(DNC, 80, 80, 160);
  const comparison = (one: PerfResult, speedup: number, target: number) => {
    const many = result(
      `${one.label}, ${threads} threads`,
      one.msPerStep.median / speedup,
      one.cpuMsPerStep * 1.05,
      160,
    );
    const threaded = { ...many, chunkMsByThread: [one.msPerStep.median / speedup - 1, null] };
    return {
      label: one.label,
      threads,
      oneThread: one,
      manyThreads: threaded,
      speedup: many.sequencesPerSecond / one.sequencesPerSecond,
      workEfficiency: one.cpuMsPerStep / many.cpuMsPerStep,
      speedupTarget: 1.7,
      ratioToPeerTarget: target,
    };
  };
  const startedAt = options.startedAt ?? '2026-12-07T20:00:00.000Z';
  return {
    startedAt,
    endedAt: new Date(Date.parse(startedAt) + 60_000).toISOString(),
    backend: 'wasm',
    machine: '2 x Test CPU, Node v20',
    workload: 'copy, length 20 (41 steps), batch 16',
    repeats: 9,
    warmup: 30,
    results: [
      { ...peer, target: null },
      { ...ntm, target: 2 },
      { ...dnc, target: 1.5 },
      { ...result(LSTM, 16, 16, 160), target: 3 },
    ],
    threads: {
      count: threads,
      warmup: 180,
      models: [comparison(ntm, ntmSpeedup, 4), comparison(dnc, dncSpeedup, 2.5)],
      machineSpeedup: 1.9,
      machineMsPerStep: { one: 10, many: 10.5 },
      residentMbPerExtraThread: memoryMb,
      memory: [],
    },
    peakRssMb: 700,
    ...(options.layers
      ? {
          layers: options.layers.map((ratio, i) => ({
            model: i === 0 ? 'ntm' : 'dnc',
            trainer: ntm,
            layers: ntm,
            ratio,
            target: 0.8,
          })),
        }
      : {}),
  };
}

const meta = { command: 'mann perf --threads 2 --runs 3', requested: 3 };

describe('the targets of a perf run', () => {
  it('lists every target the run measured, in a fixed order, with its value', () => {
    const targets = perfTargets(
      fakeRun({ ntmSpeedup: 1.75, dncSpeedup: 1.6, layers: [0.95, 0.9] }),
    );
    expect(targets.map((t) => t.name)).toEqual([
      'NTM against the peer, 1 thread',
      'DNC against the peer, 1 thread',
      'LSTM baseline against the peer, 1 thread',
      'NTM, 2 threads against 1',
      'DNC, 2 threads against 1',
      'NTM against the peer, 2 threads',
      'DNC against the peer, 2 threads',
      'resident memory per extra thread, larger of NTM and DNC',
      "NTM as a layer under model.fit, share of the Trainer's speed",
      "DNC as a layer under model.fit, share of the Trainer's speed",
    ]);
    const value = (name: string) => targets.find((t) => t.name === name)?.value;
    expect(value('NTM against the peer, 1 thread')).toBeCloseTo(4, 9);
    expect(value('DNC, 2 threads against 1')).toBeCloseTo(1.6, 9);
    // 2 threads: 80 / 1.6 = 50 ms a step against the peer's 160
    expect(value('DNC against the peer, 2 threads')).toBeCloseTo(3.2, 9);
    expect(value('resident memory per extra thread, larger of NTM and DNC')).toBe(66);
    expect(targets.map((t) => [t.target, t.kind])).toEqual([
      [2, 'atLeast'],
      [1.5, 'atLeast'],
      [3, 'atLeast'],
      [1.7, 'atLeast'],
      [1.7, 'atLeast'],
      [4, 'atLeast'],
      [2.5, 'atLeast'],
      [100, 'atMost'],
      [0.8, 'atLeast'],
      [0.8, 'atLeast'],
    ]);
    expect(targets.every((t) => t.judged)).toBe(true);
  });

  it('does not judge the thread targets of a run on other than 2 threads, and leaves out what was not measured', () => {
    const targets = perfTargets(fakeRun({ threads: 4, memoryMb: null }));
    expect(targets.filter((t) => !t.judged).map((t) => t.name)).toEqual([
      'NTM, 4 threads against 1',
      'DNC, 4 threads against 1',
      'NTM against the peer, 4 threads',
      'DNC against the peer, 4 threads',
    ]);
    expect(targets.some((t) => t.name.startsWith('resident memory'))).toBe(false);
    expect(targets.some((t) => t.name.includes('model.fit'))).toBe(false);
  });

  it('shortens model labels', () => {
    expect([NTM, DNC, LSTM].map(shortModelName)).toEqual(['NTM', 'DNC', 'LSTM baseline']);
  });

  it('never rounds a miss onto its target', () => {
    const speed = { kind: 'atLeast', unit: 'x' } as const;
    expect(formatTargetValue(1.6996, 1.7, speed)).toBe('1.6996x');
    expect(formatTargetValue(1.7, 1.7, speed)).toBe('1.70x');
    expect(formatTargetValue(1.834, 1.7, speed)).toBe('1.83x');
    const memory = { kind: 'atMost', unit: 'MB' } as const;
    expect(formatTargetValue(100.4, 100, memory)).toBe('100.4 MB');
    expect(formatTargetValue(66.4, 100, memory)).toBe('66 MB');
    const share = { kind: 'atLeast', unit: '%' } as const;
    expect(formatTargetValue(0.7996, 0.8, share)).toBe('79.96 %');
    expect(formatTargetValue(0.95, 0.8, share)).toBe('95 %');
  });
});

describe('the perf report page', () => {
  const runs = [
    fakeRun({ ntmSpeedup: 1.8, dncSpeedup: 1.75 }),
    fakeRun({ ntmSpeedup: 1.6, dncSpeedup: 1.72, startedAt: '2026-12-07T20:02:00.000Z' }),
    fakeRun({ ntmSpeedup: 1.6996, dncSpeedup: 1.9, startedAt: '2026-12-07T20:04:00.000Z' }),
  ];
  const page = perfReportPage(runs, meta);
  const row = (text: string, name: string) =>
    text.split('\n').find((line) => line.startsWith(`| ${name}`));

  it('judges each target run by run, misses in bold, and counts the runs that met it', () => {
    expect(row(page, 'NTM, 2 threads against 1')).toBe(
      '| NTM, 2 threads against 1 (at least 1.7x) | 1.80x | **1.60x** | **1.6996x** | 1 of 3 |',
    );
    expect(row(page, 'DNC, 2 threads against 1')).toBe(
      '| DNC, 2 threads against 1 (at least 1.7x) | 1.75x | 1.72x | 1.90x | 3 of 3 |',
    );
    expect(row(page, 'resident memory')).toBe(
      '| resident memory per extra thread, larger of NTM and DNC (at most 100 MB) | 66 MB | 66 MB | 66 MB | 3 of 3 |',
    );
  });

  it('says what made the runs, when, and what the machine gave each', () => {
    expect(page).toContain(
      'Generated by `mann perf --threads 2 --runs 3`: 3 runs one after another in one process, 2026-12-07 20:00-20:05 UTC.',
    );
    expect(page).toContain('- Machine: 2 x Test CPU, Node v20; backend `wasm`.');
    expect(page).toContain('9 timed steps each after 30 untimed (180 on the threads');
    expect(row(page, 'yardstick')).toBe(
      '| yardstick: independent SIMD products, 2 threads against 1 | 1.90x | 1.90x | 1.90x |',
    );
    // CPU per step 40 on 1 thread, 42 on 2: bound 2 x 40 / 42
    expect(row(page, 'NTM: bound on 2 idle cores')).toBe(
      '| NTM: bound on 2 idle cores | 1.90x | 1.90x | 1.90x |',
    );
    // 40 / 1.8 - 1 ms a chunk on the trainer's thread; none on the other
    expect(row(page, 'NTM: ms per chunk')).toBe(
      "| NTM: ms per chunk, by thread (the trainer's first) | 21.2 / - | 24.0 / - | 22.5 / - |",
    );
    expect(row(page, 'NTM: CPU ms per step')).toBe(
      '| NTM: CPU ms per step, 1 / 2 threads | 40 / 42 | 40 / 42 | 40 / 42 |',
    );
  });

  it('gives the median and range of each speed over the runs', () => {
    // the NTM on 2 threads: 40 / 1.8, 40 / 1.6, 40 / 1.6996 ms a step
    const threaded = row(page, `${NTM}, 2 threads`);
    expect(threaded).toBe(
      `| ${NTM}, 2 threads | 680 (640-720) | 23.5 (22.2-25.0) | - | 6.80x (6.40x-7.20x) |`,
    );
    expect(row(page, 'peer:')).toBe(
      '| peer: `tf.layers.lstm(100)` | 100 (100-100) | 160.0 (160.0-160.0) | 100 | 1 |',
    );
  });

  it('says so when the series stopped before the runs asked for', () => {
    const early = perfReportPage(runs.slice(0, 2), { ...meta, requested: 6 });
    expect(early).toContain(
      '2 runs one after another in one process, 2026-12-07 20:00-20:03 UTC (2 of the 6 runs asked for)',
    );
    expect(row(early, 'NTM, 2 threads against 1')).toMatch(/\| 1 of 2 \|$/);
  });

  it('marks the thread targets of other thread counts as not judged', () => {
    const four = perfReportPage([fakeRun({ threads: 4, ntmSpeedup: 1.2 })], {
      ...meta,
      requested: 1,
    });
    expect(row(four, 'NTM, 4 threads against 1')).toBe(
      '| NTM, 4 threads against 1 (at least 1.7x) | 1.20x | not judged (the targets are for 2 threads) |',
    );
  });
});

describe("the README's perf block", () => {
  const runs = [
    fakeRun({ ntmSpeedup: 1.8 }),
    fakeRun({ ntmSpeedup: 1.6 }),
    fakeRun({ ntmSpeedup: 1.75, layers: [0.9, 0.7996] }),
  ];
  const block = perfReadmeSummary(runs, { ...meta, page: 'docs/results/perf.md' });

  it('carries its markers and a link to the page', () => {
    expect(block.startsWith(PERF_README_MARKERS.start)).toBe(true);
    expect(block.endsWith(PERF_README_MARKERS.end)).toBe(true);
    expect(block).toContain('[docs/results/perf.md](docs/results/perf.md)');
  });

  it("gives each target's median over the runs, its range and the runs that met it", () => {
    const row = (name: string) => block.split('\n').find((line) => line.startsWith(`| ${name}`));
    expect(row('NTM, 2 threads against 1')).toBe(
      '| NTM, 2 threads against 1 | at least 1.7x | 1.75x | 1.60x - 1.80x | 2 of 3 |',
    );
    // measured in one run of three (the others ran without --layers)
    expect(row('DNC as a layer')).toBe(
      "| DNC as a layer under model.fit, share of the Trainer's speed | at least 80 % | 79.96 % | 79.96 % - 79.96 % | 0 of 1 (2 not measured) |",
    );
  });

  it('replaces the old block and nothing else', () => {
    const readme = `# title\n\nbefore\n\n${PERF_README_MARKERS.start}\nold table\n${PERF_README_MARKERS.end}\n\nafter\n`;
    const updated = replaceMarkedBlock(readme, PERF_README_MARKERS, block, 'the README');
    expect(updated).toBe(`# title\n\nbefore\n\n${block}\n\nafter\n`);
    expect(replaceMarkedBlock(updated, PERF_README_MARKERS, block, 'the README')).toBe(updated);
    expect(() =>
      replaceMarkedBlock('# no block\n', PERF_README_MARKERS, block, 'README.md'),
    ).toThrow('README.md has no <!-- perf:start');
  });
});

describe('a perf series that fails', () => {
  afterAll(removeScratch);

  it('keeps the runs it finished in the page and the README', async () => {
    const dir = await scratchDir('perf-series');
    const readme = join(dir, 'README.md');
    const page = join(dir, 'docs', 'perf.md');
    await writeFile(readme, `intro\n\n${PERF_README_MARKERS.start}\n${PERF_README_MARKERS.end}\n`);
    let calls = 0;
    const measureRun = async () => {
      calls++;
      if (calls === 2) throw new Error('run 2 failed');
      return fakeRun({ ntmSpeedup: 1.8 });
    };
    const options = {
      json: true,
      plugin: [],
      scale: false,
      repeats: 9,
      threads: 2,
      runs: 3,
      report: page,
      readme,
    };
    await expect(perfCommand(options, async () => 'wasm', measureRun)).rejects.toThrow(
      'run 2 failed',
    );
    expect(calls).toBe(2);
    const text = await readFile(page, 'utf8');
    expect(text).toContain('1 run one after another in one process');
    expect(text).toContain('(1 of the 3 runs asked for)');
    expect(text).toContain('| NTM, 2 threads against 1 (at least 1.7x) | 1.80x | 1 of 1 |');
    const updated = await readFile(readme, 'utf8');
    expect(updated.startsWith(`intro\n\n${PERF_README_MARKERS.start}`)).toBe(true);
    expect(updated).toContain(
      '| NTM, 2 threads against 1 | at least 1.7x | 1.80x | 1.80x - 1.80x | 1 of 1 |',
    );
    expect(updated).toContain(`[${join('docs', 'perf.md')}](${join('docs', 'perf.md')})`);
  });
});
