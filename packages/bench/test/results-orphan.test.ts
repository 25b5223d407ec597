// A checkpoint whose run has no rows in the results database (the database was deleted, emptied
// or replaced) must not make the run "done" with its learning curve missing: the run starts over
// and the checkpoint is moved aside, not deleted.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { json, mann, query, removeScratch, scratchDir, writeSuite } from './cli-helpers.js';

afterAll(removeScratch);

const SUITE = {
  name: 'orphan',
  description: 'checkpoints without their rows',
  models: [{ label: 'lstm', config: { type: 'lstm', hiddenSizes: [8] } }],
  tasks: [{ name: 'copy', params: { bits: 4, maxLength: 3 }, generalisation: [] }],
  seeds: [1],
  training: { sequences: 320, batchSize: 16, evalEvery: 160, evalSize: 16, checkpointEvery: 5 },
};

const curveCounts = (results: string) =>
  query<{ kind: string; n: number }>(
    results,
    'SELECT kind, COUNT(*) AS n FROM curve GROUP BY kind ORDER BY kind',
  );

describe('a results database without the rows of an existing checkpoint', () => {
  it('starts the run over with its full curve and keeps the checkpoint aside', async () => {
    const dir = await scratchDir('orphan');
    const results = join(dir, 'results');
    const suite = await writeSuite(dir, SUITE);
    const args = ['bench', '--suite', suite, '--workers', '0', '--results', results, '--json'];
    const first = await mann(...args);
    expect(first.code, first.stderr).toBe(0);
    const expected = curveCounts(results);
    expect(expected.find((c) => c.kind === 'train')?.n).toBeGreaterThan(0);

    for (const file of readdirSync(results))
      if (file.startsWith('results.db')) rmSync(join(results, file));
    const second = await mann(...args);
    expect(second.code, second.stderr).toBe(0);
    expect(json<{ runs: { status: string }[] }>(second).runs.map((r) => r.status)).toEqual([
      'done',
    ]);
    expect(curveCounts(results)).toEqual(expected);
    expect(second.stderr).toMatch(
      /its checkpoint \(update 20\) is ahead of the results database \(update 0\); starting the run over, the checkpoint was moved to .*\.ckpt\.orphan-/,
    );
    const files = readdirSync(join(results, 'checkpoints'));
    expect(files.filter((f) => f.endsWith('.ckpt'))).toHaveLength(1);
    expect(files.filter((f) => f.includes('.ckpt.orphan-'))).toHaveLength(1);
  });
});
