#!/usr/bin/env node
// The `mann` command line: train, eval, export, bench, reproduce, worker, report, visualize, perf, list.
import { Command, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { describeBackend, MannError, selectBackend } from '@mann/core';
import { registerBuiltins } from './builtins.js';
import { PERF_WARMUP, perfCommand } from './perf/command.js';
import { PERF_README_MARKERS } from './perf/report.js';
import { exportCommand } from './layers-model.js';
import { loadPlugins } from './plugins.js';
import type { workerCommand } from './queue/worker-command.js';
import {
  benchCommand,
  evalCommand,
  listCommand,
  reportCommand,
  reproduceCommand,
  trainCommand,
  visualizeCommand,
} from './commands.js';
import type { CommonOptions } from './commands.js';

const wholeNumber =
  (name: string, min = 0) =>
  (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a whole number >= ${min}, got '${value}'`);
    return n;
  };
const collect = (value: string, previous: string[]): string[] => [...previous, value];
const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s);

function common(command: Command): Command {
  return command
    .option('--json', 'print machine-readable JSON on stdout', false)
    .addOption(
      new Option('--backend <name>', 'TF.js backend (default: auto; env MANN_BACKEND)').choices([
        'auto',
        'tensorflow',
        'wasm',
        'cpu',
      ]),
    )
    .option(
      '--plugin <module>',
      'import a plugin module that registers models, memories or tasks (repeatable)',
      collect,
      [] as string[],
    );
}

/** Selects the backend, loads plugins and built-ins; says which backend on stderr. */
export async function prepare(options: CommonOptions): Promise<string> {
  if (options.backend) process.env.MANN_BACKEND = options.backend;
  const info = await selectBackend();
  registerBuiltins();
  await loadPlugins(options.plugin);
  if (!options.json) process.stderr.write(`${describeBackend(info)}\n`);
  return info.name;
}

function run(action: (...args: never[]) => Promise<number | void>) {
  return async (...args: unknown[]): Promise<void> => {
    try {
      const code = await (action as (...a: unknown[]) => Promise<number | void>)(...args);
      process.exitCode = code ?? 0;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const command = args[args.length - 1] as Command;
      if ((command.opts() as { json?: boolean }).json)
        process.stdout.write(`${JSON.stringify({ error: message })}\n`);
      process.stderr.write(`mann: error: ${message}\n`);
      if (!(error instanceof MannError) && error instanceof Error && process.env.MANN_DEBUG)
        process.stderr.write(`${error.stack}\n`);
      process.exitCode = 1;
    }
  };
}

const program = new Command('mann')
  .description(
    'Memory-augmented neural networks (NTM, DNC) on TensorFlow.js: train, evaluate, benchmark',
  )
  .showHelpAfterError()
  .configureOutput({
    writeErr: (s) => process.stderr.write(s),
    // Argument errors (unknown option, missing or invalid value) are also a JSON object on
    // stdout under --json, like every other error.
    outputError: (message, write) => {
      write(message);
      if (process.argv.slice(2).includes('--json'))
        process.stdout.write(
          `${JSON.stringify({ error: message.replace(/^error: /, '').trim() })}\n`,
        );
    },
  });

common(
  program
    .command('train')
    .description('train one model on one task, with live progress, evaluations and checkpoints')
    .requiredOption(
      '--model <type>',
      "registered model type (lstm, ntm, dnc, memory, or a plugin's)",
    )
    .requiredOption('--task <name>', 'registered task (copy, repeat-copy, associative-recall, ...)')
    .option('--seed <n>', 'seed of the initialisation and of the data', wholeNumber('--seed'), 1)
    .option(
      '--set <key=value>',
      'override: model.<key>=, task.<key>=, train.<key>= (repeatable; values are JSON)',
      collect,
      [] as string[],
    )
    .option('--results <dir>', 'results directory (database, checkpoints)', 'results')
    .option('--resume', "continue from the run's last checkpoint", false)
    .option('--fresh', 'start over even if a checkpoint exists', false)
    .option(
      '--threads <n>',
      'training threads sharing each step (1 = no worker thread; default: the cores, at most one per sequence of a batch)',
      wholeNumber('--threads', 1),
    ),
).action(
  run(async (options: Parameters<typeof trainCommand>[0]) => trainCommand(options, prepare)),
);

common(
  program
    .command('eval')
    .description(
      "evaluate a checkpoint on its task's training distribution and generalisation sets",
    )
    .argument(
      '<checkpoint>',
      'checkpoint file written by mann train or mann bench, or a layers model directory written by mann export',
    )
    .option('--task <name>', 'evaluate on another task (same widths)')
    .option(
      '--set <key=value>',
      'task.<key>=<value> overrides (repeatable)',
      collect,
      [] as string[],
    )
    .option(
      '--size <n>',
      'sequences per evaluation set (bAbI: stories per batch over the whole split)',
      wholeNumber('--size', 1),
      64,
    ),
).action(
  run(async (checkpoint: string, options: Parameters<typeof evalCommand>[1]) =>
    evalCommand(checkpoint, options, prepare),
  ),
);

common(
  program
    .command('export')
    .description(
      'write a checkpoint as a TF.js layers model (model.json + weights.bin) for tf.loadLayersModel',
    )
    .argument('<checkpoint>', 'checkpoint file written by mann train or mann bench')
    .argument('<dir>', 'directory to write model.json and weights.bin into'),
).action(
  run(async (checkpoint: string, dir: string, options: CommonOptions) =>
    exportCommand(checkpoint, dir, options, prepare),
  ),
);

common(
  program
    .command('bench')
    .description('run a grid of models x tasks x seeds on worker processes and write the report')
    .option('--suite <name|file>', 'quick, reproduce, paper, or a JSON suite file', 'quick')
    .option('--models <labels>', 'only these model labels (comma-separated)', list)
    .option('--tasks <names>', 'only these tasks (comma-separated)', list)
    .option('--seeds <n>', 'number of seeds', wholeNumber('--seeds', 1))
    .option(
      '--workers <n>',
      'worker processes (0 = in this process)',
      wholeNumber('--workers'),
      availableParallelism(),
    )
    .option(
      '--threads <n>',
      'training threads per run (default: cores / --workers, at least 1, also when resuming)',
      wholeNumber('--threads', 1),
    )
    .option('--results <dir>', 'results directory (database, checkpoints, report)', 'results')
    .option(
      '--queue <redis-url>',
      'run through a BullMQ queue on Redis (redis://host:port[/db]); mann worker processes the runs',
    ),
).action(
  run(async (options: Parameters<typeof benchCommand>[0]) => benchCommand(options, prepare)),
);

common(
  program
    .command('reproduce')
    .description(
      "run the reproduce suite (the papers' experiments, 3 seeds, about 90 minutes on 2 cores; resumable) and write docs/results and the README's table",
    )
    .option('--results <dir>', 'results directory (database, checkpoints)', 'results')
    .option('--out <dir>', 'where the reproduction page and reports go', 'docs/results')
    .option(
      '--readme <file>',
      "README whose generated table to replace ('' to leave it alone)",
      'README.md',
    )
    .option(
      '--workers <n>',
      'worker processes, one run each (0 = in this process)',
      wholeNumber('--workers'),
      availableParallelism(),
    )
    .option(
      '--seeds <n>',
      'number of seeds (default 3; fewer for a trial)',
      wholeNumber('--seeds', 1),
    ),
).action(
  run(async (options: Parameters<typeof reproduceCommand>[0]) =>
    reproduceCommand(options, prepare),
  ),
);

common(
  program
    .command('worker')
    .description(
      'process the runs of mann bench --queue on this machine, each in its own child process',
    )
    .requiredOption('--queue <redis-url>', 'the Redis of the queue: redis://host:port[/db]')
    .option(
      '--concurrency <n>',
      'runs trained at once (default: the cores)',
      wholeNumber('--concurrency', 1),
    )
    .option(
      '--lock-duration <ms>',
      "how long a run's lock lasts unrenewed; a dead worker's run moves on after this",
      wholeNumber('--lock-duration', 1000),
      30_000,
    ),
).action(
  run(async (options: Parameters<typeof workerCommand>[0]) =>
    // BullMQ and ioredis load only for this command and `bench --queue`.
    (await import('./queue/worker-command.js')).workerCommand(options, prepare),
  ),
);

common(
  program
    .command('report')
    .description('rebuild the HTML and Markdown reports from stored results')
    .option('--results <dir>', 'results directory', 'results')
    .option('--suite <name>', 'only this suite'),
).action(
  run(async (options: Parameters<typeof reportCommand>[0]) => reportCommand(options, prepare)),
);

common(
  program
    .command('visualize')
    .description(
      'draw the memory at work on one sample (inputs, outputs, read/write weightings, usage)',
    )
    .argument('<checkpoint>', 'checkpoint file')
    .option('--variant <name>', 'draw a generalisation variant of the task (e.g. length-50)')
    .option('--out <file>', 'HTML file to write (default: next to the checkpoint)')
    .option('--force', 'overwrite --out even if it is not a page written by mann', false),
).action(
  run(async (checkpoint: string, options: Parameters<typeof visualizeCommand>[1]) =>
    visualizeCommand(checkpoint, options, prepare),
  ),
);

common(
  program
    .command('perf')
    .description(
      'measure training speed of the NTM, DNC and LSTM baseline against tf.layers.lstm on the same backend',
    )
    .option('--scale', 'also measure step time against memory size N (64 to 4096)', false)
    .option(
      '--layers',
      "also measure the NTM and DNC as TF.js layers trained by model.fit against mann's Trainer",
      false,
    )
    .option('--repeats <n>', 'timed steps per model', wholeNumber('--repeats', 1), 7)
    .option(
      '--warmup <n>',
      'untimed steps per model first (the models on training threads take this many times the number of models measured: their threads compile the code afresh and re-optimise it for ~200-300 steps)',
      wholeNumber('--warmup', 0),
      PERF_WARMUP,
    )
    .option(
      '--threads <n>',
      'thread count of the multi-thread figures (NTM and DNC)',
      wholeNumber('--threads', 2),
      Math.max(2, availableParallelism()),
    )
    .option(
      '--runs <n>',
      'whole measurements one after another; the targets are judged run by run',
      wholeNumber('--runs', 1),
      1,
    )
    .option(
      '--report <file>',
      'write a Markdown page of the runs (targets run by run, what the machine gave each run, speeds), rewritten after every run',
    )
    .option(
      '--readme <file>',
      `replace the block between ${PERF_README_MARKERS.start} and ${PERF_README_MARKERS.end} in this file with the targets table, after every run`,
    ),
).action(run(async (options: Parameters<typeof perfCommand>[0]) => perfCommand(options, prepare)));

common(
  program
    .command('list')
    .description('list registered models, memory schemes, tasks and built-in suites'),
).action(run(async (options: CommonOptions) => listCommand(options, prepare)));

await program.parseAsync(process.argv);
