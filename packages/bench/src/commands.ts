import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  MannError,
  Rng,
  getModelDefinition,
  listMemories,
  listModels,
  loadCheckpoint,
  predict,
  restoreCheckpoint,
  trainingThreadsFor,
  type RecurrentModel,
} from '@mann/core';
import {
  BABI_FAILURE_THRESHOLD,
  BabiErrorCounter,
  babiBatches,
  createTask,
  listTasks,
  loadBabi,
  parseBabiTaskList,
  type BabiSplit,
  type BabiVariant,
  type Task,
} from '@mann/tasks';
import { collectReportData } from './collect.js';
import { parseOverrides } from './overrides.js';
import { runGrid } from './pool.js';
import { runBenchmark } from './bench.js';
import { createProgress } from './progress.js';
import {
  buildMemoryPictureHtml,
  readTextOrFail,
  writeAtomically,
  writeReport,
} from './report/index.js';
import {
  readmeSummary,
  replaceReadmeSummary,
  reproductionPage,
  reproductionRows,
  verdictCounts,
} from './report/reproduce.js';
import { REPRODUCE_SUITE } from './suites.js';
import { isMannPage } from './report/page.js';
import { lockResultsDir } from './lock.js';
import { checkMemoryFits } from './memory-estimate.js';
import { onTermination } from './signals.js';
import { threadWarnings } from './threads.js';
import {
  captureMemoryPicture,
  checkpointPath,
  evaluateOn,
  evaluationBatch,
  setDifficulty,
} from './runner.js';
import {
  DEFAULT_TRAINING,
  loadSuiteFile,
  resolveTraining,
  runId,
  type RunSpec,
  type TrainingOptions,
} from './spec.js';
import { ResultsStore } from './store.js';
import { evalLayersModelCommand, isLayersModelPath } from './layers-model.js';
import type { CommonOptions } from './options.js';
import { builtinSuite, SUITES } from './suites.js';
import { table } from './table.js';

export type { CommonOptions } from './options.js';

type Prepare = (options: CommonOptions) => Promise<string>;

const print = (options: CommonOptions, json: unknown, text: string): void => {
  process.stdout.write(options.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
};

/** Evaluations on a task's training distribution and its generalisation sets. */
function evaluateAll(
  model: Parameters<typeof evaluateOn>[0],
  task: Task,
  size: number,
  sets?: readonly string[],
) {
  return ['train', ...(sets ?? task.generalisation)].map((name) => {
    const setTask = name === 'train' ? task : task.variant(name);
    const scores = evaluateOn(model, setTask, evaluationBatch(setTask, name, size));
    return { set: name, x: name === 'train' ? null : setDifficulty(name), ...scores };
  });
}

/** `mann train` */
export async function trainCommand(
  options: CommonOptions & {
    model: string;
    task: string;
    seed: number;
    set: string[];
    results: string;
    resume: boolean;
    fresh: boolean;
    /** Default: the cores, at most the batch size. */
    threads?: number;
  },
  prepare: Prepare,
): Promise<number> {
  if (options.resume && options.fresh)
    throw new MannError('--resume and --fresh cannot be used together');
  const backend = await prepare(options);
  const overrides = parseOverrides(options.set);
  const fixed: Record<string, string> = {
    type: 'the model type is --model',
    inputSize: 'the input width comes from the task',
    outputSize: 'the output width comes from the task',
  };
  for (const key of Object.keys(overrides.model)) {
    if (fixed[key]) throw new MannError(`--set model.${key} cannot be set: ${fixed[key]}`);
  }
  const definition = getModelDefinition(options.model);
  const task = createTask(options.task, overrides.task);
  // Validate the model config now, before anything is written.
  const resolved = definition.resolveConfig({
    ...overrides.model,
    type: options.model,
    inputSize: task.inputWidth,
    outputSize: task.outputWidth,
  });
  const training = resolveTraining(
    DEFAULT_TRAINING,
    overrides.train as Partial<TrainingOptions>,
    '--set train',
  );
  checkMemoryFits(
    resolved as unknown as Record<string, unknown>,
    training.batchSize,
    task.sample(new Rng(0), 1).steps,
  );
  const base: Omit<RunSpec, 'id'> = {
    suite: 'train',
    model: { label: options.model, config: { ...overrides.model, type: options.model } },
    task: { name: options.task, params: overrides.task },
    seed: options.seed,
    training,
  };
  const spec: RunSpec = { id: runId(base), ...base };
  const resultsDir = resolve(options.results);
  const lock = lockResultsDir(resultsDir, `train --model ${options.model} --task ${options.task}`);
  try {
    return await trainLocked(options, spec, resultsDir, backend);
  } finally {
    lock.release();
  }
}

async function trainLocked(
  options: Parameters<typeof trainCommand>[0],
  spec: RunSpec,
  resultsDir: string,
  backend: string,
): Promise<number> {
  const checkpoint = checkpointPath(resultsDir, spec.id);
  if (existsSync(checkpoint) && !options.resume && !options.fresh) {
    throw new MannError(
      `a checkpoint of this run exists at ${checkpoint}; pass --resume to continue it or --fresh to start over`,
    );
  }
  if (options.resume && !existsSync(checkpoint)) {
    throw new MannError(
      `--resume: no checkpoint of this run at ${checkpoint} (same --model, --task, --seed and --set as the first run?)`,
    );
  }
  const store = new ResultsStore(join(resultsDir, 'results.db'));
  const progress = createProgress({ quiet: options.json });
  // the trainer starts at most one thread per sequence of a batch: the default needs no warning
  const threads = options.threads ?? availableParallelism();
  const { batchSize } = spec.training;
  if (options.threads !== undefined) {
    for (const warning of threadWarnings(threads, batchSize)) progress.log(warning);
  }
  const running = trainingThreadsFor(threads, batchSize);
  if (!options.json) {
    const why =
      options.threads !== undefined
        ? ''
        : ` (the ${threads} cores${running < threads ? `, at most one per sequence of a batch of ${batchSize}` : ''}; --threads to change)`;
    progress.log(`training threads: ${running}${why}`);
  }
  // Ctrl-C or kill: the run is marked interrupted (pending, so it resumes) and the command
  // that resumes it is printed; then the process ends by the signal.
  const stopWatching = onTermination((signal) => {
    progress.stop();
    const saved = store.progressOf(spec.id)?.steps ?? 0;
    const message = `interrupted by ${signal}; its last checkpoint is at update ${saved}`;
    store.interruptRun(spec.id, message);
    process.stderr.write(`\nmann: ${message}. To continue from there:\n  ${resumeCommand()}\n`);
  });
  try {
    store.addRuns([spec]);
    const result = await runGrid([spec], {
      store,
      resultsDir,
      workers: 0,
      plugins: options.plugin,
      progress,
      fresh: options.fresh,
      threads,
    });
    progress.stop();
    const run = store.runs('train').find((r) => r.id === spec.id);
    const evaluations = store.evaluations([spec.id]);
    const warnings = store.warnings(spec.id).map((w) => w.message);
    const failed = result.failed[0];
    print(
      options,
      {
        backend,
        threads: running,
        runId: spec.id,
        checkpoint,
        run,
        evaluations,
        warnings,
        ...(failed ? { error: failed.message } : {}),
      },
      failed
        ? `run failed: ${failed.message}`
        : `${table(
            ['set', 'bits/seq', 'bit errors/seq', 'sequence accuracy'],
            evaluations.map((e) => [
              e.set,
              e.bitsPerSequence,
              e.bitErrorsPerSequence,
              e.sequenceAccuracy,
            ]),
          )}${
            run?.converged
              ? `\n\nconverged (training.stopAt met) after ${run.converged.sequences.toLocaleString('en-US')} sequences, ${(run.converged.wallMs / 1000).toFixed(1)} s of training`
              : ''
          }\n\ncheckpoint: ${checkpoint}\nresults: ${join(resultsDir, 'results.db')}${warnings.map((w) => `\nwarning: ${w}`).join('')}`,
    );
    return failed ? 1 : 0;
  } finally {
    stopWatching();
    progress.stop();
    store.close();
  }
}

/** This `mann train` command line with `--resume` instead of `--fresh`, quoted for a shell. */
function resumeCommand(): string {
  const quote = (a: string): string =>
    /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
  const args = process.argv.slice(2).filter((a) => a !== '--fresh' && a !== '--resume');
  return ['mann', ...args, '--resume'].map(quote).join(' ');
}

/** `mann eval` */
export async function evalCommand(
  path: string,
  options: CommonOptions & { task?: string; set: string[]; size: number },
  prepare: Prepare,
): Promise<number> {
  if (isLayersModelPath(path)) return evalLayersModelCommand(path, options, prepare);
  const backend = await prepare(options);
  const overrides = parseOverrides(options.set);
  for (const target of ['model', 'train'] as const) {
    const [key] = Object.keys(overrides[target]);
    if (key !== undefined) {
      throw new MannError(
        `mann eval applies task.<key>= overrides only (the model and its training are the checkpoint's); got --set ${target}.${key}`,
      );
    }
  }
  const checkpoint = await loadCheckpoint(path);
  const saved = checkpoint.metadata.task as
    { name: string; params?: Record<string, unknown> } | undefined;
  const taskName = options.task ?? saved?.name;
  if (!taskName) throw new MannError(`checkpoint ${path} does not name its task; pass --task`);
  const task = createTask(taskName, { ...(options.task ? {} : saved?.params), ...overrides.task });
  const { model, trainer } = restoreCheckpoint(checkpoint);
  try {
    if (task.inputWidth !== model.inputSize || task.outputWidth !== model.outputSize) {
      throw new MannError(
        `task '${taskName}' has widths in=${task.inputWidth}, out=${task.outputWidth}; the checkpoint's model has in=${model.inputSize}, out=${model.outputSize}`,
      );
    }
    if (taskName === 'babi')
      return printBabiErrors(model, task, options, checkpoint.modelConfig.type);
    const results = evaluateAll(model, task, options.size);
    print(
      options,
      {
        backend,
        checkpoint: path,
        model: checkpoint.modelConfig,
        task: { name: taskName, params: task.params },
        step: trainer?.step ?? null,
        results,
      },
      `${checkpoint.modelConfig.type} on ${taskName}, ${trainer?.step ?? '?'} updates\n${table(
        ['set', 'bits/seq', 'bit errors/seq', 'sequence accuracy'],
        results.map((r) => [r.set, r.bitsPerSequence, r.bitErrorsPerSequence, r.sequenceAccuracy]),
      )}`,
    );
    return 0;
  } finally {
    trainer?.dispose();
    model.dispose();
  }
}

/** `mann bench` */
export async function benchCommand(
  options: CommonOptions & {
    suite: string;
    models?: string[];
    tasks?: string[];
    seeds?: number;
    workers: number;
    threads?: number;
    results: string;
    queue?: string;
  },
  prepare: Prepare,
): Promise<number> {
  // A bad --queue URL fails before the backend loads (runBenchmark checks Redis itself).
  if (options.queue !== undefined) (await import('./queue/redis.js')).parseQueueUrl(options.queue);
  const backend = await prepare(options);
  const suite = SUITES[options.suite]
    ? builtinSuite(options.suite)
    : existsSync(options.suite)
      ? await loadSuiteFile(options.suite)
      : builtinSuite(options.suite);
  const progress = createProgress({ quiet: options.json });
  try {
    const { runs, summary, report, wallSeconds } = await runBenchmark({
      suite,
      filter: {
        ...(options.models ? { models: options.models } : {}),
        ...(options.tasks ? { tasks: options.tasks } : {}),
        ...(options.seeds !== undefined ? { seeds: options.seeds } : {}),
      },
      resultsDir: options.results,
      workers: options.workers,
      plugins: options.plugin,
      progress,
      ...(options.backend ? { backend: options.backend } : {}),
      ...(options.queue !== undefined ? { queue: options.queue } : {}),
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
    });
    const lines = runs.map(
      (r) => `${r.task}/${r.modelLabel}/s${r.seed}: ${r.status}${r.error ? ` (${r.error})` : ''}`,
    );
    print(
      options,
      {
        backend,
        suite: suite.name,
        wallSeconds,
        runs,
        failed: summary.failed,
        report,
      },
      `${lines.join('\n')}\n\nreport: ${report.htmlPath}\nsummary: ${report.markdownPath}`,
    );
    return runs.some((r) => r.status !== 'done') || summary.failed.length > 0 ? 1 : 0;
  } finally {
    progress.stop();
  }
}

/**
 * bAbI as the DNC paper reports it: every story of the task's split (`task.split`, default
 * `train`; pass `--set task.split=test` for the published table), per-task error rates, their
 * mean and the failed tasks (error > 5 %).
 */
function printBabiErrors(
  model: RecurrentModel,
  task: Task,
  options: CommonOptions & { size: number },
  modelType: string,
): number {
  const params = task.params as {
    dir: string;
    variant: BabiVariant;
    tasks: string;
    split: BabiSplit;
  };
  const data = loadBabi(params.dir, {
    variant: params.variant,
    tasks: parseBabiTaskList(params.tasks),
  });
  const counter = new BabiErrorCounter();
  for (const batch of babiBatches(data, params.split, options.size))
    counter.add(predict(model, batch), batch);
  const result = counter.result();
  print(
    options,
    { task: { name: 'babi', params }, ...result },
    `${modelType} on bAbI ${params.variant}, ${params.split} split, every story\n${table(
      ['task', 'questions', 'errors', 'error rate'],
      result.tasks.map((t) => [`qa${t.task}`, t.questions, t.errors, t.errorRate]),
    )}\nmean error ${(100 * result.meanErrorRate).toFixed(2)} %, failed tasks (> ${100 * BABI_FAILURE_THRESHOLD} %): ${result.failedTasks}`,
  );
  return 0;
}

/** File name of the reproduction page in the `--out` directory of `mann reproduce`. */
export const REPRODUCTION_PAGE_FILE = 'README.md';

/**
 * `mann reproduce`: runs the `reproduce` suite (resumable: finished runs are kept), then writes
 * into `out` the reproduction page (README.md: targets, recipes), the report (index.html) and
 * the per-run summary (summary.md), and replaces the summary table in `readme` (unless empty).
 */
export async function reproduceCommand(
  options: CommonOptions & {
    results: string;
    out: string;
    readme: string;
    workers: number;
    seeds?: number;
  },
  prepare: Prepare,
): Promise<number> {
  // A README without the markers fails before hours of training, not after.
  const readmePath = options.readme ? resolve(options.readme) : undefined;
  if (readmePath) replaceReadmeSummary(await readTextOrFail(readmePath, '--readme'), '');
  await prepare(options);
  const progress = createProgress({ quiet: options.json });
  let result: Awaited<ReturnType<typeof runBenchmark>>;
  try {
    result = await runBenchmark({
      suite: REPRODUCE_SUITE,
      filter: options.seeds !== undefined ? { seeds: options.seeds } : {},
      resultsDir: options.results,
      workers: options.workers,
      plugins: options.plugin,
      progress,
      ...(options.backend ? { backend: options.backend } : {}),
    });
  } finally {
    progress.stop();
  }
  const store = new ResultsStore(join(resolve(options.results), 'results.db'));
  let data;
  let spanMs: number | undefined;
  try {
    const all = collectReportData(store, REPRODUCE_SUITE.name);
    // Only this suite's current runs: an older spec's runs stay in the database, not the page.
    const ids = new Set(result.specs.map((s) => s.id));
    data = {
      ...all,
      title: 'mann: reproducing the NTM and DNC papers',
      runs: all.runs.filter((r) => ids.has(r.id)),
      curves: all.curves.filter((c) => ids.has(c.runId)),
      evaluations: all.evaluations.filter((e) => ids.has(e.runId)),
      // Memory pictures draw every slot at every step as a vector rect: for 48 runs that is
      // tens of megabytes. The page links `mann visualize` instead.
      pictures: [],
    };
    spanMs = store.runSpanMs([...ids]);
  } finally {
    store.close();
  }
  const out = resolve(options.out);
  const report = await writeReport(data, out);
  const pagePath = join(out, REPRODUCTION_PAGE_FILE);
  await writeAtomically(
    pagePath,
    reproductionPage(data, {
      ...(spanMs !== undefined ? { spanMs } : {}),
      summaryFile: 'summary.md',
      htmlFile: 'index.html',
    }),
  );
  if (readmePath) {
    const readme = await readTextOrFail(readmePath, '--readme');
    await writeAtomically(readmePath, replaceReadmeSummary(readme, readmeSummary(data)));
  }
  const rows = reproductionRows(data);
  print(
    options,
    { rows, page: pagePath, report, readme: readmePath ?? null, wallSeconds: result.wallSeconds },
    `${verdictCounts(rows)}\n\npage: ${pagePath}\nreport: ${report.htmlPath}\nsummary: ${report.markdownPath}${readmePath ? `\nREADME table: ${readmePath}` : ''}`,
  );
  return data.runs.some((r) => r.status !== 'done') ? 1 : 0;
}

/** `mann report` */
export async function reportCommand(
  options: CommonOptions & { results: string; suite?: string },
  prepare: Prepare,
): Promise<number> {
  await prepare(options);
  const resultsDir = resolve(options.results);
  const dbPath = join(resultsDir, 'results.db');
  if (!existsSync(dbPath))
    throw new MannError(`no results database at ${dbPath}; run mann bench or mann train first`);
  const store = new ResultsStore(dbPath);
  try {
    const suites = options.suite ? [options.suite] : [...new Set(store.runs().map((r) => r.suite))];
    if (options.suite && store.runs(options.suite).length === 0) {
      throw new MannError(
        `no runs of suite '${options.suite}' in ${dbPath}; suites there: ${[...new Set(store.runs().map((r) => r.suite))].join(', ') || '(none)'}`,
      );
    }
    const reports = [];
    for (const suite of suites)
      reports.push({
        suite,
        ...(await writeReport(collectReportData(store, suite), join(resultsDir, 'report', suite))),
      });
    print(
      options,
      { reports },
      reports
        .map((r) => `${r.suite}: ${r.htmlPath}\n${' '.repeat(r.suite.length + 2)}${r.markdownPath}`)
        .join('\n'),
    );
    return 0;
  } finally {
    store.close();
  }
}

/**
 * Refuses to replace an existing file that is not a page mann wrote (unless `force`): a
 * mistyped `--out` must not destroy a checkpoint, a database or someone's notes.
 */
async function checkOverwrite(out: string, force: boolean): Promise<void> {
  if (force || !existsSync(out)) return;
  let start: string;
  try {
    const file = await open(out, 'r');
    try {
      const buffer = Buffer.alloc(400);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      start = buffer.toString('utf8', 0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (error) {
    throw new MannError(`--out ${out} exists and cannot be read: ${(error as Error).message}`);
  }
  if (!isMannPage(start)) {
    throw new MannError(
      `--out ${out} exists and is not a page written by mann; refusing to overwrite it (pass --force to replace it)`,
    );
  }
}

/** `mann visualize` */
export async function visualizeCommand(
  path: string,
  options: CommonOptions & { variant?: string; out?: string; force?: boolean },
  prepare: Prepare,
): Promise<number> {
  await prepare(options);
  const out = resolve(
    options.out ??
      path.replace(/\.ckpt$/, '') + `${options.variant ? `-${options.variant}` : ''}.html`,
  );
  if (out === resolve(path)) {
    throw new MannError(`--out ${out} is the checkpoint being drawn; choose another file`);
  }
  await checkOverwrite(out, options.force ?? false);
  const checkpoint = await loadCheckpoint(path);
  const saved = checkpoint.metadata.task as
    { name: string; params?: Record<string, unknown> } | undefined;
  if (!saved?.name)
    throw new MannError(
      `checkpoint ${path} does not name its task (was it written by mann train or mann bench?)`,
    );
  const base = createTask(saved.name, saved.params ?? {});
  const task = options.variant ? base.variant(options.variant) : base;
  const { model, trainer } = restoreCheckpoint(checkpoint);
  try {
    const label = String(checkpoint.metadata.modelLabel ?? checkpoint.modelConfig.type);
    const picture = captureMemoryPicture(
      model,
      task,
      String(checkpoint.metadata.runId ?? path),
      label,
    );
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, await buildMemoryPictureHtml(picture));
    print(
      options,
      { out, traces: Object.keys(picture.traces), steps: picture.inputs.length },
      `memory picture: ${out}`,
    );
    return 0;
  } finally {
    trainer?.dispose();
    model.dispose();
  }
}

/** `mann list` */
export async function listCommand(options: CommonOptions, prepare: Prepare): Promise<number> {
  await prepare(options);
  const data = {
    models: listModels().map((type) => ({
      type,
      description: getModelDefinition(type).description,
    })),
    memories: listMemories(),
    tasks: listTasks(),
    suites: Object.values(SUITES).map((s) => ({ name: s.name, description: s.description })),
  };
  print(
    options,
    data,
    [
      'models:',
      ...data.models.map((m) => `  ${m.type.padEnd(12)} ${m.description}`),
      `memory schemes: ${data.memories.join(', ')}`,
      `tasks: ${data.tasks.join(', ')}`,
      'suites:',
      ...data.suites.map((s) => `  ${s.name.padEnd(12)} ${s.description}`),
    ].join('\n'),
  );
  return 0;
}
