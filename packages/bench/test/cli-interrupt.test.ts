// Ctrl-C during `mann train` marks the run interrupted and prints the command that resumes it;
// argument errors are a JSON object on stdout under --json.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lockPath } from '../src/lock.js';
import {
  checkpoints,
  finished,
  json,
  mann,
  query,
  removeScratch,
  scratchDir,
  startMann,
  waitFor,
} from './cli-helpers.js';

afterAll(removeScratch);

describe('Ctrl-C during mann train', () => {
  it('marks the run interrupted, says how to resume, and that command finishes it', async () => {
    const results = await scratchDir('interrupt');
    const args = [
      'train',
      '--model',
      'lstm',
      '--task',
      'copy',
      '--set',
      'task.bits=4',
      '--set',
      'task.maxLength=3',
      '--set',
      'model.hiddenSizes=[8]',
      '--set',
      'train.sequences=3200',
      '--set',
      'train.checkpointEvery=20',
      '--results',
      results,
    ];
    const child = startMann(args);
    const done = finished(child);
    await waitFor('a checkpoint', () => checkpoints(results).length > 0, 60_000);
    child.kill('SIGINT');
    const result = await done;
    expect(result.signal).toBe('SIGINT');
    const match =
      /\nmann: interrupted by SIGINT; its last checkpoint is at update (\d+)\. To continue from there:\n {2}(mann .*)\n$/.exec(
        result.stderr,
      );
    expect(match, result.stderr).not.toBeNull();
    const [, step, command] = match!;
    expect(Number(step)).toBeGreaterThanOrEqual(20);
    expect(command).toBe(
      `mann ${args.map((a) => (a.includes('[') ? `'${a}'` : a)).join(' ')} --resume`,
    );
    expect(query(results, 'SELECT status, error FROM runs')).toEqual([
      {
        status: 'pending',
        error: `interrupted by SIGINT; its last checkpoint is at update ${step}`,
      },
    ]);
    expect(existsSync(lockPath(results))).toBe(false);

    const resumed = await mann(...args, '--resume', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(json<{ run: { status: string; steps: number } }>(resumed).run).toMatchObject({
      status: 'done',
      steps: 200,
    });
  }, 120_000);
});

describe('--json and argument errors', () => {
  const cases: [string[], string][] = [
    [['train', '--task', 'copy'], "required option '--model <type>' not specified"],
    [
      ['train', '--model', 'lstm', '--task', 'copy', '--seed', 'x'],
      "option '--seed <n>' argument 'x' is invalid. --seed must be a whole number >= 0, got 'x'",
    ],
    [['list', '--colour'], "unknown option '--colour'"],
  ];
  for (const [args, error] of cases) {
    it(`mann ${args.join(' ')} --json prints {"error": ...}`, async () => {
      const result = await mann(...args, '--json');
      expect(result.code).toBe(1);
      expect(json(result)).toEqual({ error });
      expect(result.stderr).toContain(`error: ${error}`);
    });
  }
});
