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
    kernelsPerStep: number;
    ratioToPeer: number | null;
    target: number | null;
  }[];
  peakRssMb: number;
}

describe('mann perf', () => {
  it('measures the peer, the NTM, the DNC and the LSTM baseline', async () => {
    const result = await mann('perf', '--repeats', '1', '--json');
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
