// Errors of the results database name the file (or directory) and what went wrong.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MannError } from '@mann/core';
import { ResultsStore } from '../src/store.js';
import { json, mann, removeScratch, scratchDir } from './cli-helpers.js';

afterAll(removeScratch);

const errorOf = (path: string): Error => {
  try {
    new ResultsStore(path).close();
  } catch (error) {
    return error as Error;
  }
  throw new Error(`opening ${path} succeeded`);
};

describe('ResultsStore errors name the file', () => {
  it('a file that is not a database', async () => {
    const path = join(await scratchDir('store-garbage'), 'results.db');
    writeFileSync(
      path,
      'this is not an SQLite database, just text that is long enough '.repeat(10),
    );
    const error = errorOf(path);
    expect(error).toBeInstanceOf(MannError);
    expect(error.message).toBe(`results database ${path}: file is not a database`);
  });

  it('a results directory that cannot be created', async () => {
    const file = join(await scratchDir('store-notdir'), 'file');
    writeFileSync(file, '');
    const error = errorOf(join(file, 'results', 'results.db'));
    expect(error.message).toMatch(
      new RegExp(`^cannot create results directory ${join(file, 'results')}: ENOTDIR`),
    );
  });

  it.skipIf(process.getuid?.() === 0)(
    'a read-only results directory (not reported as ENOENT)',
    async () => {
      const dir = await scratchDir('store-readonly');
      mkdirSync(join(dir, 'results'));
      chmodSync(join(dir, 'results'), 0o555);
      const error = errorOf(join(dir, 'results', 'results.db'));
      expect(error.message).toMatch(
        new RegExp(
          `^results database ${join(dir, 'results', 'results.db')}: .*(readonly|read-only|permission|unable to open)`,
          'i',
        ),
      );
      expect(error.message).not.toContain('ENOENT');
    },
  );

  it('mann report names the damaged database', async () => {
    const dir = await scratchDir('report-garbage');
    writeFileSync(join(dir, 'results.db'), 'x'.repeat(1000));
    const result = await mann('report', '--results', dir, '--json');
    expect(result.code).toBe(1);
    expect(json(result)).toEqual({
      error: `results database ${join(dir, 'results.db')}: file is not a database`,
    });
  });
});
