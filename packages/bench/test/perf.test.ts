// `mann perf`: one timed training step of each contender (the peer tf.layers.lstm, the NTM, the
// DNC, the LSTM baseline) on the same backend and workload. Speeds are not asserted (they
// depend on the machine); that every contender ran and was measured is.
import { describe, expect, it } from 'vitest';
import { json, mann } from './cli-helpers.js';

interface PerfOutput {
  backend: string;
  machine: string;
  workload: string;
  results: {
    label: string;
    sequencesPerSecond: number;
    msPerStep: { median: number; min: number; max: number };
    cpuMsPerStep: number;
    kernelsPerStep: number;
    ratioToPeer: number | null;
    target: number | null;
  }[];
  threads: {
    count: number;
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
    residentMbPerExtraThread: number;
  };
  peakRssMb: number;
}

describe('mann perf', () => {
  it('measures the peer, the NTM, the DNC and the LSTM baseline, and the NTM and DNC on 2 threads', async () => {
    const result = await mann('perf', '--repeats', '1', '--threads', '2', '--json');
    expect(result.code, result.stderr).toBe(0);
    const output = json<PerfOutput>(result);
    expect(output.backend).toMatch(/^(tensorflow|wasm|cpu)$/);
    expect(output.workload).toContain('copy');
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
    expect(output.results.map((r) => r.target)).toEqual([null, 2, 1, 3]);
    expect(output.peakRssMb).toBeGreaterThan(0);
    const { threads } = output;
    expect(threads.count).toBe(2);
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
      expect(m.workEfficiency).toBeCloseTo(
        m.oneThread.cpuMsPerStep / m.manyThreads.cpuMsPerStep,
        6,
      );
      expect([m.speedupTarget, m.ratioToPeerTarget]).toEqual(
        m.label.startsWith('ntm') ? [1.7, 4] : [1.7, 2.5],
      );
    }
    expect(Number.isFinite(threads.residentMbPerExtraThread)).toBe(true);
  }, 180_000);
});

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
    const result = await mann('perf', '--layers', '--repeats', '1', '--json');
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
