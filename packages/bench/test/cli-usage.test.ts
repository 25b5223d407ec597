// `mann --help`, every subcommand's options, usage errors and `mann list`: the built CLI as a
// user runs it. The cases are independent and mostly wait on child processes, so they run
// concurrently (with the test context's `expect`).
import { describe, it } from 'vitest';
import { json, mann } from './cli-helpers.js';

/** Each subcommand and options its --help must list (beyond --json, --backend, --plugin). */
const SUBCOMMANDS: Record<string, readonly string[]> = {
  train: ['--model', '--task', '--seed', '--set', '--results', '--resume', '--fresh', '--threads'],
  eval: ['<checkpoint>', '--task', '--set', '--size'],
  bench: [
    '--suite',
    '--models',
    '--tasks',
    '--seeds',
    '--workers',
    '--threads',
    '--results',
    '--queue',
  ],
  worker: ['--queue', '--concurrency', '--lock-duration'],
  report: ['--results', '--suite'],
  visualize: ['<checkpoint>', '--variant', '--out'],
  perf: ['--scale', '--repeats', '--threads'],
  list: [],
};

describe.concurrent('mann --help', () => {
  it('lists every subcommand with its description', async ({ expect }) => {
    const result = await mann('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: mann \[options\] \[command\]/);
    for (const command of Object.keys(SUBCOMMANDS)) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
  });

  it.for(Object.entries(SUBCOMMANDS))(
    'mann %s --help lists its options',
    async ([command, options], { expect }) => {
      const result = await mann(command, '--help');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: mann ${command}`);
      for (const option of [...options, '--json', '--backend <name>', '--plugin <module>']) {
        expect(result.stdout).toContain(option);
      }
    },
  );
});

describe.concurrent('usage errors', () => {
  it('rejects an unknown flag with the usage', async ({ expect }) => {
    const result = await mann('bench', '--nope');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("error: unknown option '--nope'");
    expect(result.stderr).toContain('Usage: mann bench [options]');
  });

  it('rejects an unknown command', async ({ expect }) => {
    const result = await mann('trian');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("unknown command 'trian'");
  });

  // [command line, option, value, least accepted value (null: not checked)]. A count that
  // cannot be 0 says so up front, naming the option, not later with an internal name
  // (`batchSize`, `seeds`). Were the value accepted, the invalid --backend after it would end
  // the command before it does any work.
  it.for<[string[], string, string, number | null]>([
    [['bench'], '--workers', '-1', 0],
    [['bench'], '--workers', '1.5', 0],
    [['train', '--model', 'lstm', '--task', 'copy'], '--seed', '-2', 0],
    [['bench'], '--seeds', 'x', null],
    [['bench'], '--seeds', '0', 1],
    [['eval', 'some.ckpt'], '--size', '0', 1],
    [['perf'], '--repeats', '0', 1],
    [['perf'], '--warmup', '-1', 0],
    [['worker', '--queue', 'redis://127.0.0.1:1'], '--concurrency', '0', 1],
    [['train', '--model', 'lstm', '--task', 'copy'], '--threads', '0', 1],
    [['bench'], '--threads', '0', 1],
    [['perf'], '--threads', '1', 2],
  ])(
    'rejects %j %s %s, naming the option, the value and the least one accepted',
    async ([args, option, value, least], { expect }) => {
      const result = await mann(...args, option, value, '--backend', 'none');
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(
        `error: option '${option} <n>' argument '${value}' is invalid. ${option} must be a whole number >= `,
      );
      if (least !== null) expect(result.stderr).toContain(`>= ${least}, got '${value}'`);
    },
  );

  it('rejects a backend that is not one of the choices', async ({ expect }) => {
    const result = await mann('list', '--backend', 'gpu');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("argument 'gpu' is invalid");
    expect(result.stderr).toContain('wasm');
  });

  it('says which required option is missing', async ({ expect }) => {
    const result = await mann('train', '--task', 'copy');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("required option '--model <type>' not specified");
  });

  it('names an unknown built-in suite and the valid ones', async ({ expect }) => {
    const result = await mann('bench', '--suite', 'nope', '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toBe(
      "unknown suite 'nope'; built-in suites: quick, paper, reproduce (or a path to a JSON suite file)",
    );
  });
});

describe.concurrent('mann list --json', () => {
  it('lists the built-in models, memories, tasks and suites', async ({ expect }) => {
    const result = await mann('list', '--json');
    expect(result.code).toBe(0);
    const data = json<{
      models: { type: string; description: string }[];
      memories: string[];
      tasks: string[];
      suites: { name: string }[];
    }>(result);
    expect(data.models.map((m) => m.type)).toEqual(
      expect.arrayContaining(['lstm', 'ntm', 'dnc', 'memory']),
    );
    for (const model of data.models) expect(model.description).not.toBe('');
    expect(data.memories).toEqual(expect.arrayContaining(['ntm', 'dnc']));
    expect(data.tasks).toEqual(
      expect.arrayContaining(['copy', 'repeat-copy', 'associative-recall']),
    );
    expect(data.suites.map((s) => s.name)).toEqual(['quick', 'paper', 'reproduce']);
    // --json keeps stderr free of the backend line, so scripts can parse both streams.
    expect(result.stderr).toBe('');
  });

  it('prints a readable list without --json', async ({ expect }) => {
    const result = await mann('list');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^models:\n {2}dnc /);
    expect(result.stdout).toContain('tasks: copy, ');
    expect(result.stderr).toMatch(/^backend: /);
  });

  it('fails clearly when a plugin cannot be loaded', async ({ expect }) => {
    const result = await mann('list', '--plugin', './no/such/plugin.mjs', '--json');
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toMatch(
      /^cannot load plugin '\.\/no\/such\/plugin\.mjs': /,
    );
  });
});
