// The `reproduce` suite and its report: the suite's cells and recipes, the task-level model
// filter it needs, the further scores evaluations keep, and the targets table checked against
// hand-made report data (met, missed with its distance, reported).
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createTask } from '@mann/tasks';
import { Rng } from '@mann/core';
import { afterAll, describe, expect, it } from 'vitest';
import { registerBuiltins } from '../src/builtins.js';
import { json, mann, REPO_ROOT } from './cli-helpers.js';
import { evaluationScores } from '../src/runner.js';
import { expandSuite, type SuiteSpec } from '../src/spec.js';
import { suiteProblems } from '../src/suite-schema.js';
import { REPRODUCE_SUITE } from '../src/suites.js';
import { ResultsStore } from '../src/store.js';
import {
  README_MARKERS,
  readmeSummary,
  replaceReadmeSummary,
  reproductionPage,
  reproductionRows,
  type TargetRow,
} from '../src/report/reproduce.js';
import type { EvaluationRecord, ReportData, RunRecord } from '../src/report/types.js';
import { buildMarkdown } from '../src/report/markdown.js';

registerBuiltins();
const scratch = mkdtempSync(join(tmpdir(), 'mann-reproduce-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the reproduce suite', () => {
  const runs = expandSuite(REPRODUCE_SUITE);
  const cells = [...new Set(runs.map((r) => `${r.task.name}/${r.model.label}`))].sort();

  it("has the issue's cells, 3 seeds each", () => {
    expect(cells).toEqual(
      [
        'associative-recall/dnc',
        'associative-recall/dnc-md',
        'associative-recall/lstm',
        'associative-recall/ntm',
        'copy/dnc',
        'copy/dnc-md',
        'copy/lstm',
        'copy/ntm',
        'dynamic-ngrams/lstm',
        'dynamic-ngrams/ntm',
        'graph-traversal/dnc',
        'graph-traversal/lstm',
        'priority-sort/lstm',
        'priority-sort/ntm',
        'repeat-copy/lstm',
        'repeat-copy/ntm',
      ].sort(),
    );
    expect(runs).toHaveLength(cells.length * 3);
    expect(suiteProblems(REPRODUCE_SUITE)).toEqual([]);
  });

  it('stops the memory models on copy, repeat copy and recall, and trains the LSTM its budget', () => {
    for (const run of runs) {
      const stops =
        run.model.label !== 'lstm' &&
        ['copy', 'repeat-copy', 'associative-recall'].includes(run.task.name);
      // the DNC-MD's recall records its convergence and trains on to its cap
      const trainsOn = run.model.label === 'dnc-md' && run.task.name === 'associative-recall';
      expect(run.training.stopAt, run.id).toEqual(
        stops
          ? {
              metric: 'bitErrorsPerSequence',
              below: 0.1,
              ...(trainsOn ? { trainOn: run.training.sequences } : {}),
            }
          : undefined,
      );
    }
  });

  it('trains the DNCs on recall with a curriculum on the number of items', () => {
    for (const run of runs.filter((r) => r.task.name === 'associative-recall')) {
      expect(run.training.curriculum, run.id).toEqual(
        run.model.label.startsWith('dnc')
          ? { key: 'maxItems', start: 2, end: 6, threshold: 0.5 }
          : undefined,
      );
    }
  });

  it("trains the NTM on copy with pytorch-ntm's settings at 3x its learning rate and the measured initialisation", () => {
    const ntm = runs.find((r) => r.task.name === 'copy' && r.model.label === 'ntm')!;
    expect(ntm.training).toMatchObject({
      batchSize: 1,
      optimizer: { kind: 'rmsprop', learningRate: 3e-4, momentum: 0.9, decay: 0.95 },
      clipNorm: 0,
      clipGradientValue: 10,
      sequences: 20_000,
    });
    expect(ntm.model.config).toMatchObject({
      controller: { kind: 'lstm', hiddenSizes: [100], init: 'wide-uniform' },
      memoryInit: 'random',
      initialWeighting: 'zeros',
      initialReads: 'zeros',
    });
  });
});

describe("a task's model list", () => {
  const suite: SuiteSpec = {
    name: 't',
    description: '',
    models: [
      { label: 'a', config: { type: 'lstm', hiddenSizes: [4] } },
      { label: 'b', config: { type: 'lstm', hiddenSizes: [8] } },
    ],
    tasks: [{ name: 'copy', models: ['b'] }, { name: 'associative-recall' }],
    seeds: [1],
    training: { ...REPRODUCE_SUITE.training, stopAt: { metric: 'bitsPerSequence', below: 1 } },
  };

  it('restricts the task to those models; a task without one runs every model', () => {
    expect(expandSuite(suite).map((r) => `${r.task.name}/${r.model.label}`)).toEqual([
      'copy/b',
      'associative-recall/a',
      'associative-recall/b',
    ]);
  });

  it('names an unknown label, with a suggestion', () => {
    const bad = { ...suite, tasks: [{ name: 'copy', models: ['bb'] }] };
    expect(() => expandSuite(bad)).toThrow(
      "task 'copy': models lists 'bb', which is not a model label of the suite; did you mean b?",
    );
  });

  it('is part of the suite file schema, and so is training.stopAt', () => {
    expect(suiteProblems(suite)).toEqual([]);
    expect(suiteProblems({ ...suite, tasks: [{ name: 'copy', models: 'b' }] }).join()).toMatch(
      /tasks\[0\]\.models/,
    );
  });
});

describe('evaluation scores', () => {
  it("keep the fraction of judged bits that are wrong and the task's own scores", () => {
    const task = createTask('copy', { bits: 4, minLength: 3, maxLength: 3 });
    const batch = task.sample(new Rng(5), 2);
    const outputs = Float32Array.from(batch.targets);
    // Flip three judged bits: 3 errors over 2 sequences x 3 steps x 4 bits = 24 judged bits.
    let flipped = 0;
    for (let i = 0; i < outputs.length && flipped < 3; i++) {
      const step = Math.floor(i / batch.outputWidth);
      if (batch.mask[step] === 0) continue;
      outputs[i] = 1 - (outputs[i] as number);
      flipped++;
    }
    const scores = task.score(outputs, batch);
    expect(scores.bitErrorsPerSequence).toBe(1.5);
    expect(evaluationScores(scores, batch)).toEqual({ bitErrorRate: 3 / 24 });

    const ngrams = createTask('dynamic-ngrams', { length: 20 });
    const nBatch = ngrams.sample(new Rng(6), 3);
    const half = new Float32Array(nBatch.targets.length).fill(0.5);
    const extra = evaluationScores(ngrams.score(half, nBatch), nBatch);
    expect(Object.keys(extra).sort()).toEqual([
      'bitErrorRate',
      'gapToOptimal',
      'optimalBitsPerSequence',
    ]);
  });

  it('are stored, read back, and added to a database of schema version 2', () => {
    const path = join(scratch, 'scores', 'results.db');
    const store = new ResultsStore(path);
    const [spec] = expandSuite(REPRODUCE_SUITE, { tasks: ['copy'], models: ['lstm'], seeds: 1 });
    store.addRuns([spec!]);
    const record: EvaluationRecord = {
      runId: spec!.id,
      set: 'length-100',
      x: 100,
      bitsPerSequence: 3,
      bitErrorsPerSequence: 2,
      sequenceAccuracy: 0.5,
      scores: { bitErrorRate: 0.0025 },
    };
    store.addEvaluation(record);
    expect(store.evaluations([spec!.id])).toEqual([record]);
    store.close();

    const db = new Database(path);
    db.exec('ALTER TABLE evaluations DROP COLUMN scores');
    db.prepare('UPDATE meta SET value = ? WHERE key = ?').run('2', 'schema_version');
    db.close();
    const upgraded = new ResultsStore(path);
    const { scores: _dropped, ...old } = record;
    expect(upgraded.evaluations([spec!.id])).toEqual([old]);
    upgraded.addEvaluation(record);
    expect(upgraded.evaluations([spec!.id])).toEqual([record]);
    // The span of finished runs: none yet, then one run's training time.
    expect(upgraded.runSpanMs([spec!.id])).toBeUndefined();
    upgraded.finishRun(spec!.id, { steps: 10, sequences: 160, wallMs: 4_000 });
    expect(upgraded.runSpanMs([spec!.id])).toBeCloseTo(4_000, 6);
    upgraded.close();
  });
});

// Hand-made report data: one run per (task, model, seed) with what the targets read.
let counter = 0;
function run(task: string, model: string, seed: number, extra: Partial<RunRecord> = {}): RunRecord {
  counter++;
  return {
    id: `r${counter}`,
    suite: 'reproduce',
    modelLabel: model,
    modelType: model.startsWith('dnc') ? 'dnc' : model,
    task,
    seed,
    status: 'done',
    parameters: 1,
    sequenceBudget: 20_000,
    sequences: 20_000,
    steps: 20_000,
    wallMs: 1000,
    backend: 'wasm',
    spec: {},
    ...extra,
  };
}

function evaluation(
  r: RunRecord,
  set: string,
  bitErrorsPerSequence: number,
  scores: Record<string, number> = {},
  bitsPerSequence = 1,
): EvaluationRecord {
  return {
    runId: r.id,
    set,
    x: null,
    bitsPerSequence,
    bitErrorsPerSequence,
    sequenceAccuracy: 1,
    scores,
  };
}

function data(runs: RunRecord[], evaluations: EvaluationRecord[]): ReportData {
  return {
    title: 't',
    generatedAt: '2026-12-06T05:00:00.000Z',
    backend: 'wasm',
    machine: '2 x test cpu',
    runs,
    curves: [],
    evaluations,
    pictures: [],
  };
}

const row = (rows: TargetRow[], task: string, model: string, target: RegExp): TargetRow => {
  const found = rows.find((r) => r.task === task && r.model === model && target.test(r.target));
  if (!found) throw new Error(`no row ${task}/${model}/${target}`);
  return found;
};

describe('the targets table', () => {
  it('judges convergence by the median seed, counting an unconverged run as never', () => {
    const fast = [1, 2, 3].map((seed, i) =>
      run('copy', 'ntm', seed, {
        converged: { sequences: [9_000, 12_000, 8_000][i]!, wallMs: [100, 130, 90][i]! * 1000 },
      }),
    );
    const slow = [
      run('copy', 'dnc', 1, { converged: { sequences: 5_000, wallMs: 60_000 } }),
      run('copy', 'dnc', 2),
      run('copy', 'dnc', 3),
    ];
    const rows = reproductionRows(data([...fast, ...slow], []));
    const ntm = row(rows, 'copy', 'ntm', /within/);
    expect(ntm.verdict).toBe('met');
    expect(ntm.measured).toBe(
      '3 of 3 seeds converged; sequences 9,000 (seeds: 9,000 / 12,000 / 8,000); training time 100 s (seeds: 100 s / 130 s / 90 s)',
    );
    const dnc = row(rows, 'copy', 'dnc', /within/);
    expect(dnc.verdict).toBe('missed');
    expect(dnc.distance).toBe('the median run did not converge within its cap of 20,000 sequences');
    expect(dnc.measured).toMatch(
      /^1 of 3 seeds converged; sequences not reached \(seeds: 5,000 \/ — \/ —\)/,
    );
  });

  it('reports a missed bound with its distance, and a bound met', () => {
    const runs = [1, 2, 3].map((seed) => run('copy', 'ntm', seed));
    const rates = [0.002, 0.03, 0.05];
    const rows = reproductionRows(
      data(
        runs,
        runs.map((r, i) => evaluation(r, 'length-100', 1, { bitErrorRate: rates[i]! })),
      ),
    );
    const length100 = row(rows, 'copy', 'ntm', /length-100/);
    expect(length100.verdict).toBe('missed');
    expect(length100.distance).toBe('median 3 % > 1 %');
    expect(length100.measured).toBe('3 % (seeds: 0.2 % / 3 % / 5 %)');

    const graph = [1, 2, 3].map((seed) => run('graph-traversal', 'dnc', seed));
    const accuracy = [0.95, 0.91, 0.5];
    const graphRows = reproductionRows(
      data(
        graph,
        graph.map((r, i) => evaluation(r, 'train', 0, { answerStepAccuracy: accuracy[i]! })),
      ),
    );
    expect(row(graphRows, 'graph-traversal', 'dnc', /90 %/).verdict).toBe('met');
  });

  it('compares models: DNC-MD against the DNC, the NTM against the LSTM', () => {
    const md = [1, 2, 3].map((seed) =>
      run('associative-recall', 'dnc-md', seed, { converged: { sequences: 4_000, wallMs: 1 } }),
    );
    const dnc = [1, 2, 3].map((seed) =>
      run('associative-recall', 'dnc', seed, { converged: { sequences: 6_000, wallMs: 1 } }),
    );
    const ntm = [1, 2, 3].map((seed) => run('priority-sort', 'ntm', seed));
    const lstm = [1, 2, 3].map((seed) => run('priority-sort', 'lstm', seed));
    const rows = reproductionRows(
      data(
        [...md, ...dnc, ...ntm, ...lstm],
        [
          ...ntm.map((r) => evaluation(r, 'train', 0, {}, 30)),
          ...lstm.map((r) => evaluation(r, 'train', 0, {}, 20)),
        ],
      ),
    );
    expect(row(rows, 'associative-recall', 'dnc-md vs dnc', /fewer/).verdict).toBe('met');
    const sort = row(rows, 'priority-sort', 'ntm vs lstm', /below/);
    expect(sort.verdict).toBe('missed');
    expect(sort.distance).toBe('median 30 >= 20');
  });

  it('fails the health row on a failed run or a NaN', () => {
    const ok = run('copy', 'lstm', 1);
    const failed = run('copy', 'lstm', 2, { status: 'failed', error: 'boom' });
    const rows = reproductionRows(data([ok, failed], [evaluation(ok, 'train', Number.NaN)]));
    const health = row(rows, 'every run', 'all', /NaN/);
    expect(health.verdict).toBe('missed');
    expect(health.distance).toContain(`${failed.id} (failed)`);
    expect(health.distance).toContain(`NaN or Inf in ${ok.id}`);
  });
});

describe('the generated pages', () => {
  const runs = [1, 2, 3].map((seed) =>
    run('copy', 'ntm', seed, { converged: { sequences: 9_000, wallMs: 100_000 } }),
  );
  const report = data(runs, []);

  it('replaces only the marked block of the README, and refuses a README without one', () => {
    const readme = `# x\n\nbefore\n\n${README_MARKERS.start}\nold table\n${README_MARKERS.end}\n\nafter\n`;
    const summary = readmeSummary(report);
    const once = replaceReadmeSummary(readme, summary);
    expect(once).toContain('before');
    expect(once).toContain('after');
    expect(once).not.toContain('old table');
    expect(once).toContain(
      '| copy | ntm | < 0.1 bit errors/seq within 10,000 sequences and 2 min | 9,000 sequences, 100 s | yes |',
    );
    expect(replaceReadmeSummary(once, summary)).toBe(once);
    expect(() => replaceReadmeSummary('# no markers\n', summary)).toThrow(
      /no <!-- reproduce:start/,
    );
  });

  it('names the command and every recipe on the reproduction page', () => {
    const page = reproductionPage(report, {
      spanMs: 3_600_000,
      summaryFile: 'summary.md',
      htmlFile: 'index.html',
    });
    expect(page).toContain('`npm ci && npm run reproduce`');
    expect(page).toContain('2 of 2 targets met');
    expect(page).toContain('the runs span 60 min of wall time');
    expect(page).toMatch(/## Recipes, and how they differ from the papers/);
    expect(page).toMatch(/## bAbI/);
  });

  it('leaves memory pictures out of the Markdown summary when the report has none', () => {
    expect(buildMarkdown(report)).toContain(
      'Charts (learning curves, generalisation): [index.html]',
    );
  });
});

describe('mann reproduce and mann eval on bAbI (the command line)', () => {
  it('refuses a README without the generated block before it trains anything', async () => {
    const readme = join(scratch, 'README.md');
    writeFileSync(readme, '# no block\n');
    const result = await mann('reproduce', '--readme', readme, '--results', join(scratch, 'r'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('has no <!-- reproduce:start');
    const missing = await mann('reproduce', '--readme', join(scratch, 'nope.md'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`--readme ${join(scratch, 'nope.md')}: cannot read it`);
  }, 60_000);

  it('evaluates a bAbI checkpoint on every story of a split, per task', async () => {
    const fixtures = join(REPO_ROOT, 'packages/tasks/test/fixtures/babi');
    const results = join(scratch, 'babi');
    const trained = await mann(
      'train',
      '--model',
      'lstm',
      '--task',
      'babi',
      '--threads',
      '1',
      '--json',
      '--results',
      results,
      '--set',
      `task.dir=${JSON.stringify(fixtures)}`,
      '--set',
      'task.variant="en"',
      '--set',
      'task.tasks="1,8"',
      '--set',
      'model.hiddenSizes=[8]',
      '--set',
      'train.sequences=8',
      '--set',
      'train.batchSize=4',
      '--set',
      'train.evalSize=4',
      '--set',
      'train.evalEvery=8',
    );
    expect(trained.code, trained.stderr).toBe(0);
    const [checkpoint] = readdirSync(join(results, 'checkpoints'));
    const out = await mann(
      'eval',
      join(results, 'checkpoints', checkpoint!),
      '--set',
      'task.split="test"',
      '--json',
    );
    expect(out.code, out.stderr).toBe(0);
    const report = json<{
      tasks: { task: number; questions: number; errors: number; errorRate: number }[];
      meanErrorRate: number;
    }>(out);
    // Every question of the fixtures' test files: the lines with a tab (question, answer, ids).
    const questions = (file: string): number =>
      readFileSync(join(fixtures, 'en', file), 'utf8')
        .split('\n')
        .filter((line) => line.includes('\t')).length;
    expect(report.tasks.map((t) => [t.task, t.questions])).toEqual([
      [1, questions('qa1_single-supporting-fact_test.txt')],
      [8, questions('qa8_lists-sets_test.txt')],
    ]);
    for (const t of report.tasks) expect(t.errorRate).toBeCloseTo(t.errors / t.questions, 12);
  }, 120_000);
});
