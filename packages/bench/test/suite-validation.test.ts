// Suite files and suites given to the API: everything that would not be applied as written is
// rejected before anything runs, with the path of the offending value.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import { DEFAULT_TRAINING, expandSuite, type SuiteSpec } from '../src/index.js';
import { registerBuiltins } from '../src/builtins.js';
import { json, mann, removeScratch, scratchDir, writeSuite } from './cli-helpers.js';

beforeAll(async () => {
  await selectBackend();
  registerBuiltins();
});
afterAll(removeScratch);

const SMALL: SuiteSpec = {
  name: 'small',
  description: 'validation',
  models: [{ label: 'lstm', config: { type: 'lstm', hiddenSizes: [8] } }],
  tasks: [{ name: 'copy', params: { bits: 4, maxLength: 3 } }],
  seeds: [1],
  training: { ...DEFAULT_TRAINING, sequences: 160 },
};

describe('duplicate runs', () => {
  it('a seed listed twice is rejected, naming both places', () => {
    expect(() => expandSuite({ ...SMALL, seeds: [1, 2, 1] })).toThrow(
      "suite 'small': seeds[2] is 1, already listed as seeds[0]; each seed must appear once",
    );
  });

  it('a seed count that repeats a listed seed, or a task listed twice, is rejected', () => {
    expect(() => expandSuite({ ...SMALL, seeds: [3, 1] }, { seeds: 3 })).toThrow(
      /^suite 'small' lists the same run twice: small\/copy\/lstm\/s3-[0-9a-f]{8} \(the same task, model and seed\); remove the duplicate$/,
    );
    expect(() => expandSuite({ ...SMALL, tasks: [SMALL.tasks[0]!, SMALL.tasks[0]!] })).toThrow(
      /lists the same run twice: small\/copy\/lstm\/s1-/,
    );
  });

  it('mann bench with "seeds": [1, 1] exits 1 before anything runs', async () => {
    const dir = await scratchDir('dup-seeds');
    const suite = await writeSuite(dir, { ...SMALL, name: 'dup', seeds: [1, 1] });
    const results = join(dir, 'results');
    const result = await mann('bench', '--suite', suite, '--results', results, '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toContain(
      'seeds[1] is 1, already listed as seeds[0]',
    );
    expect(existsSync(join(results, 'results.db'))).toBe(false);
  });
});
