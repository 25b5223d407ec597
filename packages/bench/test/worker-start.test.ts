// A worker process that cannot start (here: a plugin whose register() fails only in workers) is
// tried a bounded number of times; its runs then fail with the error instead of staying pending
// while the pool respawns workers forever. A failing register() names its plugin.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  finished,
  json,
  query,
  removeScratch,
  scratchDir,
  startMann,
  writeSuite,
} from './cli-helpers.js';

const PLUGIN = fileURLToPath(new URL('./fixtures/failing-register-plugin.mjs', import.meta.url));
const REGISTER_ERROR = `plugin '${PLUGIN}' failed in register(): deliberate failure in register`;

afterAll(removeScratch);

describe('a worker that fails to start', () => {
  it('is tried 3 times per worker slot; the runs fail with its error; exit code 1', async () => {
    const dir = await scratchDir('worker-start');
    const log = join(dir, 'register.log');
    const suite = await writeSuite(dir, {
      name: 'nostart',
      description: 'workers cannot start',
      models: [{ label: 'lstm', config: { type: 'lstm', hiddenSizes: [8] } }],
      tasks: [{ name: 'copy', params: { bits: 4, maxLength: 3 } }],
      seeds: [1, 2, 3],
      training: { sequences: 160, batchSize: 16, evalEvery: 160, evalSize: 16 },
    });
    const results = join(dir, 'results');
    process.env.MANN_TEST_REGISTER_LOG = log;
    const child = startMann([
      'bench',
      '--suite',
      suite,
      '--plugin',
      PLUGIN,
      '--workers',
      '2',
      '--results',
      results,
      '--json',
    ]);
    delete process.env.MANN_TEST_REGISTER_LOG; // startMann copied it into the child's environment
    const result = await finished(child);
    expect(result.code, result.stderr).toBe(1);
    const output = json<{ runs: { status: string; error?: string }[] }>(result);
    const message = `worker process failed to start 3 times in a row: ${REGISTER_ERROR} (exit code 1, signal null)`;
    expect(output.runs.map((r) => [r.status, r.error])).toEqual([
      ['failed', message],
      ['failed', message],
      ['failed', message],
    ]);
    expect(query(results, "SELECT COUNT(*) AS n FROM runs WHERE status = 'pending'")).toEqual([
      { n: 0 },
    ]);
    const starts = readFileSync(log, 'utf8').trim().split('\n');
    expect(starts.filter((s) => s === 'parent')).toHaveLength(1);
    expect(starts.filter((s) => s === 'worker')).toHaveLength(2 * 3);
  }, 120_000);

  it('a register() that fails in the command itself names the plugin', async () => {
    process.env.MANN_TEST_FAIL_EVERYWHERE = '1';
    try {
      const result = await finished(startMann(['list', '--plugin', PLUGIN, '--json']));
      expect(result.code).toBe(1);
      expect(json<{ error: string }>(result).error).toBe(REGISTER_ERROR);
    } finally {
      delete process.env.MANN_TEST_FAIL_EVERYWHERE;
    }
  });
});
