// `mann train`, `eval`, `visualize` and `report` end to end: one small LSTM trained on a small
// copy task once (beforeAll), then every command that reads its checkpoint or its database.
// Commands that would write into that results directory work on a copy of it, so the cases
// are independent and run concurrently (with the test context's `expect`).
import { existsSync, readFileSync } from 'node:fs';
import { cp, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { json, mann, query, removeScratch, scratchDir, type CliResult } from './cli-helpers.js';

const TRAIN_ARGS = [
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
  'train.sequences=320',
  '--set',
  'model.hiddenSizes=[16]',
];
const COPY_SETS = ['train', 'length-30', 'length-50', 'length-100', 'length-120'];

interface Evaluation {
  runId: string;
  set: string;
  x: number | null;
  bitsPerSequence: number;
  bitErrorsPerSequence: number;
  sequenceAccuracy: number;
}
interface TrainOutput {
  backend: string;
  threads: number;
  runId: string;
  checkpoint: string;
  run: { status: string; sequences: number; steps: number; parameters: number };
  evaluations: Evaluation[];
  error?: string;
}

let results: string;
let first: CliResult;
let trained: TrainOutput;

/** A copy of the trained results directory, for commands that write into it. */
async function copyOfResults(label: string): Promise<string> {
  const copy = await scratchDir(label);
  await cp(results, copy, { recursive: true });
  return copy;
}

beforeAll(async () => {
  results = await scratchDir('train');
  first = await mann(...TRAIN_ARGS, '--results', results, '--json');
  trained = json<TrainOutput>(first);
});
afterAll(removeScratch);

describe.concurrent('mann train', () => {
  it('trains to the sequence budget and prints the evaluations as JSON', ({ expect }) => {
    expect(first.code, first.stderr).toBe(0);
    expect(trained.error).toBeUndefined();
    expect(trained.run).toMatchObject({ status: 'done', sequences: 320, steps: 20 });
    expect(trained.run.parameters).toBeGreaterThan(0);
    // the cores, at most one thread per sequence of the default batch of 16
    expect(trained.threads).toBe(Math.min(availableParallelism(), 16));
    expect(trained.evaluations.map((e) => e.set).sort()).toEqual([...COPY_SETS].sort());
    for (const e of trained.evaluations) {
      expect(e.runId).toBe(trained.runId);
      expect(e.x).toBe(e.set === 'train' ? null : Number(e.set.slice('length-'.length)));
      expect(e.bitsPerSequence).toBeGreaterThan(0);
      expect(e.sequenceAccuracy).toBeGreaterThanOrEqual(0);
      expect(e.sequenceAccuracy).toBeLessThanOrEqual(1);
    }
  });

  it('trains on one thread to what the default threads reach (to float32 rounding)', async ({
    expect,
  }) => {
    const copy = await copyOfResults('one-thread');
    const result = await mann(
      ...TRAIN_ARGS,
      '--results',
      copy,
      '--fresh',
      '--threads',
      '1',
      '--json',
    );
    expect(result.code, result.stderr).toBe(0);
    const single = json<TrainOutput>(result);
    expect(single.runId).toBe(trained.runId);
    expect(single.threads).toBe(1);
    for (const e of single.evaluations) {
      const other = trained.evaluations.find((x) => x.set === e.set);
      expect(other, e.set).toBeDefined();
      expect(e.bitsPerSequence, e.set).toBeCloseTo(other!.bitsPerSequence, 3);
    }
  });

  it('says how many threads train each step (the cores by default, at most the batch)', async ({
    expect,
  }) => {
    const cores = availableParallelism();
    const copy = await copyOfResults('threads-line');
    const defaults = await mann(...TRAIN_ARGS, '--results', copy, '--fresh');
    expect(defaults.code, defaults.stderr).toBe(0);
    const running = Math.min(cores, 16);
    const reason = `the ${cores} cores${running < cores ? ', at most one per sequence of a batch of 16' : ''}`;
    expect(defaults.stderr).toContain(
      `training threads: ${running} (${reason}; --threads to change)`,
    );
    const given = await mann(
      ...TRAIN_ARGS,
      '--results',
      copy,
      '--fresh',
      '--threads',
      '3',
      '--set',
      'train.batchSize=2',
    );
    expect(given.code, given.stderr).toBe(0);
    expect(given.stderr).toMatch(/^training threads: 2$/m);
    expect(given.stderr).toContain('warning: --threads 3 exceeds the batch of 2 sequences');
  });

  it('warns when the loss grows far above its start (records and shows it); none otherwise', async ({
    expect,
  }) => {
    expect((trained as TrainOutput & { warnings: string[] }).warnings).toEqual([]);
    const dir = await scratchDir('diverge');
    const args = [...TRAIN_ARGS, '--set', 'train.optimizer={"kind":"adam","learningRate":1000}'];
    const result = await mann(...args, '--results', dir, '--json');
    expect(result.code, result.stderr).toBe(0);
    const output = json<TrainOutput & { warnings: string[] }>(result);
    expect(output.warnings).toHaveLength(1);
    expect(output.warnings[0]).toMatch(
      /^training diverges: the evaluation cost is \S+ bits per sequence at update 20, more than 10 times its \S+ before training \(learning rate too high\?\)$/,
    );
    expect(result.stderr).toContain(`warning: ${output.warnings[0]}`);
    expect(query(dir, 'SELECT step, message FROM warnings')).toEqual([
      { step: 20, message: output.warnings[0] },
    ]);
  });

  it('writes the checkpoint and the results database', ({ expect }) => {
    expect(trained.checkpoint).toBe(
      join(results, 'checkpoints', `${trained.runId.replaceAll('/', '__')}.ckpt`),
    );
    expect(readFileSync(trained.checkpoint).subarray(0, 8).toString()).toBe('MANNCKPT');
    const curve = query<{ kind: string; n: number }>(
      results,
      'SELECT kind, COUNT(*) AS n FROM curve WHERE run_id = ? GROUP BY kind ORDER BY kind',
      trained.runId,
    );
    // One eval point at the start and one at the end; a train point every update (20).
    expect(curve).toEqual([
      { kind: 'eval', n: 2 },
      { kind: 'train', n: 20 },
    ]);
  });

  it('refuses to overwrite a finished run without --resume or --fresh', async ({ expect }) => {
    const copy = await copyOfResults('again');
    const result = await mann(...TRAIN_ARGS, '--results', copy, '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(
      `a checkpoint of this run exists at ${join(copy, 'checkpoints', `${trained.runId.replaceAll('/', '__')}.ckpt`)}; pass --resume to continue it or --fresh to start over`,
    );
  });

  it('--resume after the run finished evaluates again and changes nothing', async ({ expect }) => {
    const copy = await copyOfResults('resume');
    const result = await mann(...TRAIN_ARGS, '--results', copy, '--resume', '--json');
    expect(result.code, result.stderr).toBe(0);
    const resumed = json<TrainOutput>(result);
    expect(resumed.run).toMatchObject({ status: 'done', sequences: 320, steps: 20 });
    // The same parameters on the same fixed evaluation sets: the same numbers.
    expect(resumed.evaluations).toEqual(trained.evaluations);
    const attempts = query<{ attempts: number }>(copy, 'SELECT attempts FROM runs');
    expect(attempts).toEqual([{ attempts: 2 }]);
  });

  it('--resume without a checkpoint says what to check', async ({ expect }) => {
    const empty = await scratchDir('no-checkpoint');
    const result = await mann(...TRAIN_ARGS, '--results', empty, '--resume', '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toMatch(
      /^--resume: no checkpoint of this run at .*\(same --model, --task, --seed and --set as the first run\?\)$/,
    );
  });

  it('rejects --resume with --fresh', async ({ expect }) => {
    const result = await mann(...TRAIN_ARGS, '--resume', '--fresh', '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(
      '--resume and --fresh cannot be used together',
    );
  });

  it('names the known model types for an unknown model', async ({ expect }) => {
    const result = await mann('train', '--model', 'nope', '--task', 'copy', '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(
      "unknown model type 'nope'; known types: dnc, lstm, memory, ntm",
    );
  });

  it('names the valid options for an unknown model option, before writing anything', async ({
    expect,
  }) => {
    const dir = await scratchDir('bad-option');
    const result = await mann(
      'train',
      '--model',
      'lstm',
      '--task',
      'copy',
      '--set',
      'model.nope=1',
      '--results',
      dir,
      '--json',
    );
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toMatch(
      /^unknown lstm config option 'nope'; valid options: .*hiddenSizes/,
    );
    expect(existsSync(join(dir, 'results.db'))).toBe(false);
  });

  it.for<[string, string]>([
    ['bad', "--set must be <target>.<key>=<value> with target model, task, train; got 'bad'"],
    [
      'model=1',
      "--set must be <target>.<key>=<value> with target model, task, train; got 'model=1'",
    ],
    ['opt.lr=1', "--set 'opt.lr=1': unknown target 'opt'; valid targets: model, task, train"],
  ])('rejects --set %s', async ([pair, message], { expect }) => {
    const result = await mann(
      'train',
      '--model',
      'lstm',
      '--task',
      'copy',
      '--set',
      pair,
      '--json',
    );
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(message);
  });

  it('names the valid training options for an unknown one', async ({ expect }) => {
    const result = await mann(
      'train',
      '--model',
      'lstm',
      '--task',
      'copy',
      '--set',
      'train.epochs=3',
      '--json',
    );
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toMatch(
      /^--set train: unknown training option 'epochs'; valid options: sequences, batchSize, /,
    );
  });
});

describe.concurrent('mann eval', () => {
  it('evaluates a checkpoint on the training distribution and the generalisation sets', async ({
    expect,
  }) => {
    const result = await mann('eval', trained.checkpoint, '--size', '32', '--json');
    expect(result.code, result.stderr).toBe(0);
    const output = json<{
      checkpoint: string;
      model: { type: string };
      task: { name: string; params: Record<string, number> };
      step: number;
      results: { set: string; bitsPerSequence: number; sequenceAccuracy: number }[];
    }>(result);
    expect(output.model.type).toBe('lstm');
    expect(output.task).toEqual({ name: 'copy', params: { bits: 4, minLength: 1, maxLength: 3 } });
    expect(output.step).toBe(20);
    expect(output.results.map((r) => r.set)).toEqual(COPY_SETS);
    for (const r of output.results) expect(r.bitsPerSequence).toBeGreaterThan(0);
  });

  it('names the path of a corrupt checkpoint', async ({ expect }) => {
    const dir = await scratchDir('corrupt');
    const path = join(dir, 'corrupt.ckpt');
    await writeFile(path, 'MANNCKPT this is not a checkpoint');
    const result = await mann('eval', path, '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toMatch(
      new RegExp(`^corrupt or unreadable checkpoint ${path}: `),
    );
    expect(result.stderr).toContain(`mann: error: corrupt or unreadable checkpoint ${path}`);
  });

  it('names the path of a checkpoint whose data was altered', async ({ expect }) => {
    const path = join(await scratchDir('altered'), 'altered.ckpt');
    const bytes = readFileSync(trained.checkpoint);
    const last = bytes.length - 1;
    bytes[last] = bytes[last]! ^ 0xff;
    await writeFile(path, bytes);
    const result = await mann('eval', path, '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toMatch(
      new RegExp(`^corrupt or unreadable checkpoint ${path}: `),
    );
  });

  it('names the path of a missing checkpoint', async ({ expect }) => {
    const path = join(results, 'checkpoints', 'missing.ckpt');
    const result = await mann('eval', path, '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toContain(path);
  });
});

describe.concurrent('mann visualize', () => {
  it('draws the memory picture of a checkpoint as HTML with an SVG', async ({ expect }) => {
    const out = join(await scratchDir('picture'), 'pic.html');
    const result = await mann('visualize', trained.checkpoint, '--out', out, '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(json<{ out: string; steps: number }>(result)).toMatchObject({
      out,
      steps: expect.any(Number),
    });
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('<svg');
  });

  it('refuses to write over the checkpoint it draws, even with --force', async ({ expect }) => {
    const copy = await copyOfResults('picture-self');
    const checkpoint = trained.checkpoint.replace(results, copy);
    const before = readFileSync(checkpoint);
    for (const extra of [[], ['--force']]) {
      const result = await mann('visualize', checkpoint, '--out', checkpoint, ...extra, '--json');
      expect(result.code).toBe(1);
      expect(json<{ error: string }>(result).error).toBe(
        `--out ${checkpoint} is the checkpoint being drawn; choose another file`,
      );
    }
    expect(readFileSync(checkpoint).equals(before)).toBe(true);
  });

  it('overwrites its own page, but another file only with --force', async ({ expect }) => {
    const dir = await scratchDir('picture-overwrite');
    const notes = join(dir, 'notes.html');
    await writeFile(notes, 'my notes\n');
    const refused = await mann('visualize', trained.checkpoint, '--out', notes, '--json');
    expect(refused.code).toBe(1);
    expect(json<{ error: string }>(refused).error).toBe(
      `--out ${notes} exists and is not a page written by mann; refusing to overwrite it (pass --force to replace it)`,
    );
    expect(readFileSync(notes, 'utf8')).toBe('my notes\n');
    const forced = await mann('visualize', trained.checkpoint, '--out', notes, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(notes, 'utf8')).toContain('<meta name="generator" content="mann">');
    const again = await mann('visualize', trained.checkpoint, '--out', notes);
    expect(again.code, again.stderr).toBe(0);
  });
});

describe.concurrent('mann report', () => {
  it('rebuilds the HTML and Markdown reports from the database', async ({ expect }) => {
    const copy = await copyOfResults('report');
    const result = await mann('report', '--results', copy, '--json');
    expect(result.code, result.stderr).toBe(0);
    const { reports } = json<{
      reports: { suite: string; htmlPath: string; markdownPath: string }[];
    }>(result);
    expect(reports).toEqual([
      {
        suite: 'train',
        htmlPath: join(copy, 'report', 'train', 'index.html'),
        markdownPath: join(copy, 'report', 'train', 'summary.md'),
      },
    ]);
    expect(readFileSync(reports[0]!.htmlPath, 'utf8')).toContain('<svg');
    expect(readFileSync(reports[0]!.markdownPath, 'utf8')).toContain('| lstm |');
  });

  it('names the missing database', async ({ expect }) => {
    const empty = await scratchDir('no-db');
    const result = await mann('report', '--results', empty, '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(
      `no results database at ${join(empty, 'results.db')}; run mann bench or mann train first`,
    );
  });

  it('names the suites there are for an unknown --suite', async ({ expect }) => {
    const copy = await copyOfResults('report-suite');
    const result = await mann('report', '--results', copy, '--suite', 'nope', '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(
      `no runs of suite 'nope' in ${join(copy, 'results.db')}; suites there: train`,
    );
  });
});
