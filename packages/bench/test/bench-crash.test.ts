// A run that fails, even by taking its worker process down, fails alone: the benchmark records
// its error, finishes the other runs, reports the failure and exits with code 1.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CRASH_PLUGIN,
  json,
  mann,
  query,
  removeScratch,
  scratchDir,
  writeSuite,
  type CliResult,
} from './cli-helpers.js';

const SUITE = {
  name: 'crash',
  description: 'a worker crash fails only its run',
  models: [
    { label: 'lstm', config: { type: 'lstm', hiddenSizes: [16] } },
    { label: 'crash-exit', config: { type: 'crash', hiddenSizes: [16], mode: 'exit' } },
    { label: 'crash-throw', config: { type: 'crash', hiddenSizes: [16], mode: 'throw' } },
  ],
  tasks: [{ name: 'copy', params: { bits: 4, maxLength: 3 }, generalisation: ['length-30'] }],
  seeds: [1],
  training: { sequences: 320, batchSize: 16, evalEvery: 160, evalSize: 32, checkpointEvery: 5 },
};

const EXIT_MESSAGE = 'worker process exited unexpectedly (code 3, signal null) during this run';
const THROW_MESSAGE = 'crash plugin: deliberate failure in run';

interface BenchOutput {
  runs: { id: string; modelLabel: string; status: string; error?: string }[];
  failed: { runId: string; message: string }[];
  report: { htmlPath: string; markdownPath: string };
}

let results: string;
let result: CliResult;
let output: BenchOutput;

beforeAll(async () => {
  const dir = await scratchDir('crash');
  results = `${dir}/results`;
  const suite = await writeSuite(dir, SUITE);
  result = await mann(
    'bench',
    '--plugin',
    CRASH_PLUGIN,
    '--suite',
    suite,
    '--workers',
    '2',
    '--results',
    results,
    '--json',
  );
  output = json<BenchOutput>(result);
}, 120_000);
afterAll(removeScratch);

describe('a failing run in mann bench', () => {
  it('fails only itself; the benchmark exits with code 1', () => {
    expect(result.code, result.stderr).toBe(1);
    expect(output.runs.map((r) => [r.modelLabel, r.status, r.error])).toEqual([
      ['crash-exit', 'failed', EXIT_MESSAGE],
      ['crash-throw', 'failed', THROW_MESSAGE],
      ['lstm', 'done', undefined],
    ]);
    expect(output.failed.map((f) => f.message).sort()).toEqual(
      [EXIT_MESSAGE, THROW_MESSAGE].sort(),
    );
  });

  it('records each error, with the stack of a thrown one', () => {
    const errors = query<{ model_label: string; message: string; stack: string | null }>(
      results,
      `SELECT runs.model_label, errors.message, errors.stack
       FROM errors JOIN runs ON runs.id = errors.run_id ORDER BY runs.model_label`,
    );
    expect(errors.map((e) => [e.model_label, e.message])).toEqual([
      ['crash-exit', EXIT_MESSAGE],
      ['crash-throw', THROW_MESSAGE],
    ]);
    expect(errors[0]?.stack).toBeNull();
    expect(errors[1]?.stack).toContain('crash-plugin.mjs');
  });

  it('keeps the finished run complete', () => {
    const [lstm] = query<{ id: string; sequences: number }>(
      results,
      "SELECT id, sequences FROM runs WHERE model_label = 'lstm'",
    );
    expect(lstm?.sequences).toBe(320);
    const sets = query<{ set_name: string }>(
      results,
      'SELECT set_name FROM evaluations WHERE run_id = ? ORDER BY set_name',
      lstm?.id,
    );
    expect(sets.map((s) => s.set_name)).toEqual(['length-30', 'train']);
  });

  it('lists the failures in the report', () => {
    const markdown = readFileSync(output.report.markdownPath, 'utf8');
    for (const message of [EXIT_MESSAGE, THROW_MESSAGE]) expect(markdown).toContain(message);
    expect(markdown).toMatch(/\*\*Failed\*\* `crash\/copy\/crash-exit\/s1-[0-9a-f]{8}`/);
    const html = readFileSync(output.report.htmlPath, 'utf8');
    expect(html).toContain('Failed runs (2)');
    expect(html).toContain(THROW_MESSAGE);
  });

  it('runs a failed run again when the benchmark is run again', async () => {
    const again = await mann(
      'bench',
      '--plugin',
      CRASH_PLUGIN,
      '--suite',
      `${results}/../crash.json`,
      '--workers',
      '1',
      '--results',
      results,
      '--models',
      'crash-throw',
      '--json',
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('suite crash: 1 runs, 0 already done, 1 to run');
    const errors = query<{ n: number }>(
      results,
      "SELECT COUNT(*) AS n FROM errors JOIN runs ON runs.id = errors.run_id WHERE model_label = 'crash-throw'",
    );
    expect(errors).toEqual([{ n: 2 }]);
  });
});
