// Suite files and suites given to the API: everything that would not be applied as written is
// rejected before anything runs, with the path of the offending value.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import {
  DEFAULT_TRAINING,
  expandSuite,
  loadSuiteFile,
  SUITES,
  type SuiteSpec,
} from '../src/index.js';
import { suiteProblems } from '../src/suite-schema.js';
import { registerBuiltins } from '../src/builtins.js';
import { json, mann, removeScratch, scratchDir, STACK_SUITE, writeSuite } from './cli-helpers.js';

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

describe('suite files are checked against one schema, naming the path in the file', () => {
  const FILE = {
    models: [{ label: 'lstm', config: { type: 'lstm', hiddenSizes: [8] } }],
    tasks: [{ name: 'copy', params: { bits: 4 } }],
    seeds: [1],
    training: { sequences: 160 },
  };
  let dir = '';
  beforeAll(async () => {
    dir = await scratchDir('suite-file');
  });
  /** Writes `content` (JSON) as a suite file and returns the error loading it gives. */
  const errorOf = async (content: unknown): Promise<string> => {
    const path = join(dir, 'suite.json');
    writeFileSync(path, JSON.stringify(content));
    const error = await loadSuiteFile(path).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error, 'expected the suite file to be rejected').toBeInstanceOf(Error);
    expect(error!.name).toBe('MannError');
    return error!.message.slice(`suite file ${path}: `.length);
  };

  const cases: [string, unknown, string][] = [
    [
      'a misspelled top-level key',
      { ...FILE, trainig: { sequences: 5 } },
      'trainig: unknown key; did you mean training?',
    ],
    ['seed for seeds', { ...FILE, seed: 2 }, 'seed: unknown key; did you mean seeds?'],
    [
      "a task's parms",
      { ...FILE, tasks: [{ name: 'copy', parms: { bits: 4 } }] },
      'tasks[0].parms: unknown key; did you mean params?',
    ],
    [
      'a misspelled training option',
      { ...FILE, training: { sequnces: 100 } },
      'training.sequnces: unknown key; did you mean sequences?',
    ],
    [
      'a misspelled optimizer option',
      { ...FILE, training: { optimizer: { kind: 'adam', learningrate: 1 } } },
      'training.optimizer.learningrate: unknown key; did you mean learningRate?',
    ],
    [
      'an unknown optimizer',
      { ...FILE, training: { optimizer: { kind: 'sgd' } } },
      'training.optimizer.kind: must be one of "adam", "rmsprop", got "sgd"',
    ],
    ['null', null, '(the top level): Invalid input: expected object, received null, got null'],
    [
      'a task given as a string',
      { ...FILE, tasks: ['copy'] },
      'tasks[0]: Invalid input: expected object, received string, got "copy"',
    ],
    [
      'seeds given as a number',
      { ...FILE, seeds: 1 },
      'seeds: Invalid input: expected array, received number, got 1',
    ],
    [
      'a fractional seed',
      { ...FILE, seeds: [1.5] },
      'seeds[0]: Invalid input: expected int, received number, got 1.5',
    ],
    [
      'no models',
      { ...FILE, models: [] },
      'models: Too small: expected array to have >=1 items, got []',
    ],
  ];
  for (const [label, content, message] of cases) {
    it(label, async () => {
      expect(await errorOf(content)).toBe(message);
    });
  }

  it('several problems are all reported', async () => {
    expect(await errorOf({ ...FILE, trainig: {}, seeds: 'x' })).toBe(
      'seeds: Invalid input: expected array, received string, got "x"; trainig: unknown key; did you mean training?',
    );
  });

  it('an override naming a model label or a task the suite does not have', async () => {
    expect(await errorOf({ ...FILE, overrides: [{ model: 'lstn', training: {} }] })).toBe(
      "overrides[0].model: no model label 'lstn' in the suite; did you mean lstm? (model labels: lstm)",
    );
    expect(await errorOf({ ...FILE, overrides: [{ task: 'recall' }] })).toBe(
      "overrides[0].task: no task 'recall' in the suite (tasks: copy)",
    );
    expect(await errorOf({ ...FILE, overrides: [{ model: 'lstm', confg: {} }] })).toBe(
      'overrides[0].confg: unknown key; did you mean config?',
    );
  });

  it('the API checks a SuiteSpec against the same schema', () => {
    expect(() => expandSuite({ ...SMALL, tasks: [{ name: 'copy', parms: {} } as never] })).toThrow(
      "suite 'small': tasks[0].parms: unknown key; did you mean params?",
    );
  });

  it('the built-in suites and the worked example suite file are well-formed', () => {
    for (const suite of Object.values(SUITES)) expect(suiteProblems(suite)).toEqual([]);
    expect(suiteProblems(JSON.parse(readFileSync(STACK_SUITE, 'utf8')))).toEqual([]);
  });

  it('a well-formed suite file loads', async () => {
    const path = join(dir, 'good.json');
    writeFileSync(path, JSON.stringify(FILE));
    const suite = await loadSuiteFile(path);
    expect(suite.name).toBe('good');
    expect(suite.training.sequences).toBe(160);
  });
});
