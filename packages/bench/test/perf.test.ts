// `mann perf`: one timed training step of each contender (the peer tf.layers.lstm, the NTM, the
// DNC, the LSTM baseline) on the same backend and workload. Speeds are not asserted (they
// depend on the machine); that every contender ran and was measured is.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, mann, removeScratch, scratchDir } from './cli-helpers.js';
import { PERF_README_MARKERS } from '../src/perf/report.js';
import { runProbe } from '../src/perf/memory-probe.js';
import { machineContender, measure, type Contender } from '../src/perf/measure.js';
import { threadWarmup } from '../src/perf/command.js';
import { formatAgainst } from '../src/perf/run.js';

interface Probe {
  rssMb: number;
  peakRssMb: number;
}

interface PerfOutput {
  startedAt: string;
  endedAt: string;
  backend: string;
  machine: string;
  workload: string;
  repeats: number;
  warmup: number;
  results: {
    label: string;
    sequencesPerSecond: number;
    msPerStep: { median: number; min: number; max: number };
    cpuMsPerStep: number;
    kernelsPerStep: number;
    ratioToPeer: number | null;
    target: number | null;
    chunksPerStep?: number[];
    chunkMsByThread?: (number | null)[];
  }[];
  threads: {
    count: number;
    warmup: number;
    models: {
      label: string;
      threads: number;
      oneThread: PerfOutput['results'][number];
      manyThreads: PerfOutput['results'][number];
      speedup: number;
      workEfficiency: number;
      speedupTarget: number;
      ratioToPeerTarget: number;
    }[];
    machineSpeedup: number;
    residentMbPerExtraThread: number;
    memory: {
      label: string;
      threads: number;
      pairs: { oneThread: Probe; manyThreads: Probe }[];
      extraMb: number[];
      mbPerExtraThread: number;
    }[];
  };
  peakRssMb: number;
}

describe('mann perf', () => {
  afterAll(removeScratch);

  it('measures the peer, the NTM, the DNC and the LSTM baseline, and the NTM and DNC on 2 threads, run after run, into a page and the README', async () => {
    const dir = await scratchDir('perf');
    const readme = join(dir, 'README.md');
    const page = join(dir, 'docs', 'perf.md');
    const around = [
      '# project',
      '',
      'text before',
      '',
      PERF_README_MARKERS.start,
      'old table',
      PERF_README_MARKERS.end,
      '',
      'text after',
      '',
    ];
    writeFileSync(readme, around.join('\n'));
    const result = await mann(
      'perf',
      '--repeats',
      '1',
      '--warmup',
      '2',
      '--threads',
      '2',
      '--runs',
      '2',
      '--report',
      page,
      '--readme',
      readme,
      '--json',
    );
    expect(result.code, result.stderr).toBe(0);
    const { runs } = json<{ runs: PerfOutput[] }>(result);
    expect(runs).toHaveLength(2);
    expect(Date.parse(runs[0]!.endedAt)).toBeLessThanOrEqual(Date.parse(runs[1]!.startedAt));
    for (const output of runs) checkRun(output);
    // the page: both runs, every target judged in each
    const text = readFileSync(page, 'utf8');
    expect(text).toContain('| Target | Run 1 | Run 2 | Met in |');
    expect(text).toContain('2 runs one after another in one process');
    expect(text).toMatch(
      /\| NTM, 2 threads against 1 \(at least 1\.7x\) \| [^|]+ \| [^|]+ \| [0-2] of 2 \|/,
    );
    expect(text).toMatch(
      /\| resident memory per extra thread, larger of NTM and DNC \(at most 100 MB\) \|/,
    );
    // the README: the block replaced, the rest as it was
    const updated = readFileSync(readme, 'utf8');
    const start = updated.indexOf(PERF_README_MARKERS.start);
    const end = updated.indexOf(PERF_README_MARKERS.end) + PERF_README_MARKERS.end.length;
    expect(updated.slice(0, start)).toBe(around.slice(0, 4).join('\n') + '\n');
    expect(updated.slice(end)).toBe('\n\ntext after\n');
    expect(updated).not.toContain('old table');
    expect(updated).toContain('[docs/perf.md](docs/perf.md)');
    expect(updated).toMatch(
      /\| DNC against the peer, 1 thread \| at least 1\.5x \| [\d.]+x \| [\d.]+x - [\d.]+x \| [0-2] of 2 \|/,
    );
  }, 300_000);

  it('fails before measuring when the README has no block or the page cannot be written', async () => {
    const dir = await scratchDir('perf-paths');
    const readme = join(dir, 'README.md');
    writeFileSync(readme, '# no block here\n');
    const noBlock = await mann('perf', '--readme', readme);
    expect(noBlock.code).toBe(1);
    expect(noBlock.stderr).toContain(`has no ${PERF_README_MARKERS.start}`);
    expect(noBlock.stderr).not.toContain('perf: round');
    // a page under a regular file
    const blocked = await mann('perf', '--report', join(readme, 'perf.md'));
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(`--report ${join(readme, 'perf.md')}: cannot write there`);
    expect(existsSync(join(readme, 'perf.md'))).toBe(false);
    const zero = await mann('perf', '--runs', '0');
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toContain('--runs');
  }, 60_000);
});

/** One run of `mann perf --threads 2 --repeats 1 --warmup 2`, as `--json` prints it. */
function checkRun(output: PerfOutput): void {
  expect(output.backend).toMatch(/^(tensorflow|wasm|cpu)$/);
  expect(output.workload).toContain('copy');
  expect([output.repeats, output.warmup]).toEqual([1, 2]);
  expect(output.results.map((r) => r.label.split(/[ :]/)[0])).toEqual([
    'peer',
    'ntm',
    'dnc',
    'lstm',
  ]);
  for (const r of output.results) {
    expect(r.sequencesPerSecond, r.label).toBeGreaterThan(0);
    expect(r.msPerStep.median, r.label).toBeGreaterThan(0);
    expect(Number.isInteger(r.kernelsPerStep) && r.kernelsPerStep > 0, r.label).toBe(true);
    expect(r.ratioToPeer, r.label).toBeCloseTo(
      r.sequencesPerSecond / output.results[0]!.sequencesPerSecond,
      6,
    );
  }
  expect(output.results.map((r) => r.target)).toEqual([null, 2, 1.5, 3]);
  expect(output.peakRssMb).toBeGreaterThan(0);
  const { threads } = output;
  expect(threads.count).toBe(2);
  // the threaded contenders warm up as long as this thread does in all: 2 x 6 contenders
  expect(threads.warmup).toBe(threadWarmup(2, 6));
  expect(threads.warmup).toBe(12);
  expect(threads.models.map((m) => m.label.split(' ')[0])).toEqual(['ntm', 'dnc']);
  for (const m of threads.models) {
    // the 1-thread figure is the one in the main table, measured in the same alternation
    expect(output.results.find((r) => r.label === m.label)).toMatchObject(m.oneThread);
    expect(m.manyThreads.label).toBe(`${m.label}, 2 threads`);
    expect(m.manyThreads.sequencesPerSecond, m.label).toBeGreaterThan(0);
    expect(m.speedup).toBeCloseTo(
      m.manyThreads.sequencesPerSecond / m.oneThread.sequencesPerSecond,
      6,
    );
    expect(m.manyThreads.cpuMsPerStep, m.label).toBeGreaterThan(0);
    // batch 16 on 2 threads: 2 chunks of 8 a step (chunkRanges), shared between the two
    expect(m.manyThreads.chunksPerStep).toHaveLength(2);
    expect(m.manyThreads.chunksPerStep!.reduce((a, b) => a + b, 0)).toBe(2);
    expect(m.oneThread.chunksPerStep).toBeUndefined();
    // how long a chunk took on each thread: within a step, for each thread that had one
    expect(m.manyThreads.chunkMsByThread).toHaveLength(2);
    m.manyThreads.chunkMsByThread!.forEach((ms, thread) => {
      const chunks = m.manyThreads.chunksPerStep![thread]!;
      if (chunks === 0) expect(ms).toBeNull();
      else {
        expect(ms, m.label).toBeGreaterThan(0);
        expect(ms! * chunks, m.label).toBeLessThanOrEqual(m.manyThreads.msPerStep.max);
      }
    });
    expect(m.oneThread.chunkMsByThread).toBeUndefined();
    expect(m.workEfficiency).toBeCloseTo(m.oneThread.cpuMsPerStep / m.manyThreads.cpuMsPerStep, 6);
    expect([m.speedupTarget, m.ratioToPeerTarget]).toEqual(
      m.label.startsWith('ntm') ? [1.7, 4] : [1.7, 2.5],
    );
  }
  // the machine's own scaling, for scale: independent work on 2 threads against 1 (it cannot
  // beat 2x by much: the work is the same on every thread)
  expect(threads.machineSpeedup).toBeGreaterThan(0);
  expect(threads.machineSpeedup).toBeLessThan(2.5);
  // memory: fresh processes, 1 thread against 2, in pairs
  expect(threads.memory.map((m) => m.label)).toEqual(threads.models.map((m) => m.label));
  for (const m of threads.memory) {
    expect(m.threads).toBe(2);
    expect(m.pairs).toHaveLength(3);
    m.pairs.forEach((p, i) => {
      for (const probe of [p.oneThread, p.manyThreads]) {
        expect(probe.peakRssMb, m.label).toBeGreaterThan(50);
        expect(probe.peakRssMb, m.label).toBeGreaterThanOrEqual(probe.rssMb);
      }
      expect(m.extraMb[i]).toBeCloseTo(p.manyThreads.peakRssMb - p.oneThread.peakRssMb, 6);
    });
    expect(m.mbPerExtraThread).toBeCloseTo([...m.extraMb].sort((a, b) => a - b)[1]!, 6);
  }
  expect(threads.residentMbPerExtraThread).toBe(
    Math.max(...threads.memory.map((m) => m.mbPerExtraThread)),
  );
}

interface LayersPerfOutput {
  layers: {
    model: string;
    trainer: { sequencesPerSecond: number };
    layers: { sequencesPerSecond: number; label: string };
    ratio: number;
    target: number;
  }[];
}

describe('mann perf --layers', () => {
  it("measures the NTM and the DNC as layers under model.fit against mann's Trainer", async () => {
    const result = await mann('perf', '--layers', '--repeats', '1', '--warmup', '1', '--json');
    expect(result.code, result.stderr).toBe(0);
    const { layers } = json<LayersPerfOutput>(result);
    expect(layers.map((l) => l.model)).toEqual(['ntm', 'dnc']);
    for (const l of layers) {
      expect(l.layers.label, l.model).toContain('model.fit');
      expect(l.trainer.sequencesPerSecond, l.model).toBeGreaterThan(0);
      expect(l.layers.sequencesPerSecond, l.model).toBeGreaterThan(0);
      expect(l.ratio, l.model).toBeCloseTo(
        l.layers.sequencesPerSecond / l.trainer.sequencesPerSecond,
        6,
      );
      expect(l.target).toBe(0.8);
    }
  }, 300_000);
});

describe('the thread-memory probe', () => {
  /** A probe training `config` on the cpu backend, one thread. */
  const probeOnCpu = (config: { type: string } & Record<string, unknown>, steps: number) =>
    runProbe({ config, workers: 1, steps, backend: 'cpu', plugins: [] });

  it('fails with the probe process’s own error, naming the model and thread count', async () => {
    await expect(
      runProbe({ config: { type: 'nope' }, workers: 2, steps: 1, backend: 'cpu', plugins: [] }),
    ).rejects.toThrow(
      /^the memory probe \(nope, 2 threads\) failed \(exit code 1\): unknown model type 'nope'/,
    );
  });

  it("reads the probe's own peak, not its parent's (maxRSS starts at the parent's RSS at fork)", async () => {
    const ballast = Buffer.alloc(400 * 2 ** 20, 1); // 400 MB resident in this process
    try {
      const probe = await probeOnCpu({ type: 'lstm', hiddenSizes: [8] }, 1);
      expect(process.memoryUsage().rss / 2 ** 20).toBeGreaterThan(400);
      expect(probe.peakRssMb).toBeLessThan(300);
    } finally {
      ballast.fill(0);
    }
  }, 60_000);

  it('measures a fresh process: more steps of a bigger model take more memory', async () => {
    const small = await probeOnCpu({ type: 'lstm', hiddenSizes: [8] }, 1);
    expect(small.peakRssMb).toBeGreaterThanOrEqual(small.rssMb);
    expect(small.rssMb).toBeGreaterThan(20);
    const dnc = await probeOnCpu({ type: 'dnc' }, 2);
    // the DNC keeps 41 dense [16, 128, 128] links for backprop: ~41 MB more at the least
    expect(dnc.peakRssMb - small.peakRssMb).toBeGreaterThan(40);
  }, 120_000);
});

describe('formatAgainst', () => {
  it('shows a value below its target with the decimals that keep it below', () => {
    expect(formatAgainst(1.6996, 1.7)).toBe('1.6996');
    expect(formatAgainst(3.998, 4)).toBe('3.998');
    expect(formatAgainst(1.695, 1.7)).toBe('1.695'); // toFixed(2) gives 1.70
    expect(formatAgainst(1.6949, 1.7)).toBe('1.69');
    expect(formatAgainst(1.7, 1.7)).toBe('1.70');
    expect(formatAgainst(1.704, 1.7)).toBe('1.70'); // met: rounding down to the target is no lie
    expect(formatAgainst(79.6, 80, 0)).toBe('79.6');
    expect(formatAgainst(85.2, 80, 0)).toBe('85');
  });
});

describe('measure', () => {
  it("gives each contender its own untimed steps when it has some, else the option's", async () => {
    const steps: number[] = [0, 0];
    const contender = (i: number, warmup?: number): Contender => ({
      label: `c${i}`,
      step: async () => {
        steps[i]!++;
      },
      dispose: () => undefined,
      ...(warmup !== undefined ? { warmup } : {}),
    });
    const results = await measure([contender(0), contender(1, 7)], {
      repeats: 2,
      warmup: 3,
      batchSize: 1,
    });
    expect(steps).toEqual([3 + 2 + 1, 7 + 2 + 1]); // warm-up, timed, and one counting kernels
    expect(results.map((r) => r.label)).toEqual(['c0', 'c1']);
  });
});

describe('the machine calibration of mann perf', () => {
  it('runs the same work on every thread at once', async () => {
    const one = machineContender(1, 20);
    const three = machineContender(3, 20);
    try {
      expect(one.label).toBe('machine: independent work on 1 thread');
      expect(three.label).toBe('machine: independent work on 3 threads');
      await Promise.all([one.step(), three.step()]);
      // every thread replied with the checksum of the same 20 products
      expect(one.replies).toHaveLength(1);
      expect(three.replies).toHaveLength(3);
      expect(Number.isFinite(one.replies[0]) && one.replies[0] !== 0).toBe(true);
      expect(three.replies).toEqual([one.replies[0], one.replies[0], one.replies[0]]);
      const first = three.replies;
      await three.step();
      expect(three.replies).not.toBe(first); // a step's own replies
      expect(three.replies).toEqual(first);
    } finally {
      one.dispose();
      three.dispose();
    }
  });
});
