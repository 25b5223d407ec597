import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import {
  MannError,
  checkChoice,
  checkInteger,
  checkNumber,
  invalidArgument,
  type OptimizerConfig,
} from '@mann/core';
import { createTask, getTaskDefinition, incrementalCurriculum, type Curriculum } from '@mann/tasks';
import { closest, suiteProblems } from './suite-schema.js';

/** A model as a suite names it: a label and a config for `createModel` (widths come from the task). */
export interface ModelEntry {
  /** Label in tables and charts, e.g. `ntm`. Unique within a suite. */
  readonly label: string;
  /** `{ type, ...options }` for `createModel`, without `inputSize`/`outputSize`. */
  readonly config: { readonly type: string; readonly [key: string]: unknown };
}

/** A task as a suite names it. */
export interface TaskEntry {
  /** Registered task name, e.g. `copy`. */
  readonly name: string;
  /** Parameter overrides (typed values or strings). */
  readonly params?: Readonly<Record<string, unknown>>;
  /**
   * Generalisation sets evaluated after training; default: all of the task's named variants.
   * Each is a variant name (`length-50`) or a set of its own: a name and parameter overrides
   * applied on top of the task's params (`{ name: 'length-20', params: { minLength: 20, maxLength: 20 } }`).
   */
  readonly generalisation?: readonly GeneralisationSet[];
  /**
   * Model labels that run this task; default: every model of the suite. A suite whose tasks
   * suit different models (graph traversal for the DNC, n-grams for the NTM) lists them here
   * instead of running the whole grid.
   */
  readonly models?: readonly string[];
}

/** A generalisation set: a task variant's name, or a name with parameter overrides. */
export type GeneralisationSet =
  string | { readonly name: string; readonly params: Readonly<Record<string, unknown>> };

/** The name of a generalisation set. */
export function setName(set: GeneralisationSet): string {
  return typeof set === 'string' ? set : set.name;
}

/** Metrics of the fixed evaluation set a run can stop on. */
export const STOP_METRICS = ['bitErrorsPerSequence', 'bitsPerSequence'] as const;

/** A metric a run can stop on; see {@link StopCondition}. */
export type StopMetric = (typeof STOP_METRICS)[number];

/**
 * When a run has met its task's target: at an evaluation on the fixed evaluation set (every
 * `evalEvery` sequences, see {@link TrainingOptions}) whose `metric` is strictly below `below`.
 * Its convergence (sequences and wall time) is recorded there, and the run stops training
 * then, or `trainOn` sequences later.
 */
export interface StopCondition {
  /** `bitErrorsPerSequence` (thresholded outputs) or `bitsPerSequence` (the cost). */
  readonly metric: StopMetric;
  /** The target: the metric must be strictly below this (> 0). */
  readonly below: number;
  /**
   * Sequences to go on training after the target is met (rounded up to whole updates; the
   * sequence budget still caps the run). Default 0: stop at the evaluation that met it. A
   * budget-sized value trains the whole budget but still records when the target was met.
   */
  readonly trainOn?: number;
}

/**
 * An incremental curriculum on one numeric task parameter (docs/spec.md section 4): training
 * batches come from the task with `key` = `start`, then `start + step`, ... up to `end`,
 * advancing when the mean bit errors per sequence of the last `window` training batches
 * (measured before each update) drop below `threshold`. Evaluations (and `stopAt`) use the
 * task as configured, whatever the level.
 */
export interface CurriculumSpec {
  /** The task parameter stepped, e.g. `maxItems` of associative recall. */
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** Default 1 (or -1 when end < start). */
  readonly step?: number;
  /** Default 0.1 bit errors per sequence. */
  readonly threshold?: number;
  /** Training batches averaged; default 10. */
  readonly window?: number;
}

/** How a run trains and is measured. */
export interface TrainingOptions {
  /**
   * Sequence budget: training stops after this many sequences, or earlier when `stopAt` is
   * met.
   */
  readonly sequences: number;
  readonly batchSize: number;
  readonly optimizer: OptimizerConfig;
  /** Global-norm gradient clip (0 disables). */
  readonly clipNorm: number;
  /** Element-wise gradient clip (0 disables; the NTM paper clips to [-10, 10]). */
  readonly clipGradientValue: number;
  /** Evaluate on the fixed evaluation set every this many sequences. */
  readonly evalEvery: number;
  /** Sequences in the evaluation set (and in each generalisation set). */
  readonly evalSize: number;
  /** Write a checkpoint every this many updates (and at the end). */
  readonly checkpointEvery: number;
  /**
   * Stop on convergence: the sequence budget becomes a cap, and the run stops at the first
   * evaluation that meets this target (or `trainOn` sequences later). Absent (the default):
   * train the whole budget.
   */
  readonly stopAt?: StopCondition;
  /** Train on a curriculum of the task (see {@link CurriculumSpec}); absent: the task as is. */
  readonly curriculum?: CurriculumSpec;
}

/** Overrides for some (model, task) pairs of a suite; absent keys match everything. */
export interface SuiteOverride {
  readonly model?: string;
  readonly task?: string;
  readonly training?: Partial<TrainingOptions>;
  /** Merged into the model config. */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** A benchmark: the grid models x tasks x seeds, with training options. */
export interface SuiteSpec {
  readonly name: string;
  readonly description: string;
  readonly models: readonly ModelEntry[];
  readonly tasks: readonly TaskEntry[];
  readonly seeds: readonly number[];
  readonly training: TrainingOptions;
  readonly overrides?: readonly SuiteOverride[];
}

/** One cell of the grid, fully resolved. */
export interface RunSpec {
  /** `suite/task/model/s<seed>-<hash of the spec>`: re-running an unchanged spec finds its results. */
  readonly id: string;
  readonly suite: string;
  readonly model: ModelEntry;
  readonly task: TaskEntry;
  readonly seed: number;
  readonly training: TrainingOptions;
}

/** Training options every suite starts from. */
export const DEFAULT_TRAINING: TrainingOptions = {
  sequences: 20_000,
  batchSize: 16,
  optimizer: { kind: 'adam', learningRate: 1e-3 },
  clipNorm: 50,
  clipGradientValue: 0,
  evalEvery: 1_000,
  evalSize: 64,
  checkpointEvery: 50,
};

const TRAINING_KEYS = [...Object.keys(DEFAULT_TRAINING), 'stopAt', 'curriculum'];

const CURRICULUM_KEYS = ['key', 'start', 'end', 'step', 'threshold', 'window'];

/** Checks a {@link CurriculumSpec}'s shape; errors name the field and value (the task checks the key and levels). */
export function checkCurriculumSpec(curriculum: unknown, where: string): CurriculumSpec {
  const field = `${where}: training.curriculum`;
  if (!curriculum || typeof curriculum !== 'object' || Array.isArray(curriculum)) {
    throw invalidArgument(field, curriculum, '{ key, start, end, step?, threshold?, window? }');
  }
  const given = curriculum as Record<string, unknown>;
  const unknown = Object.keys(given).find((key) => !CURRICULUM_KEYS.includes(key));
  if (unknown !== undefined) {
    throw new MannError(
      `${field}: unknown option '${unknown}'; valid options: ${CURRICULUM_KEYS.join(', ')}`,
    );
  }
  if (typeof given.key !== 'string' || given.key === '') {
    throw invalidArgument(`${field}.key`, given.key, 'the name of a numeric task parameter');
  }
  checkNumber(`${field}.start`, given.start);
  checkNumber(`${field}.end`, given.end);
  if (given.step !== undefined) checkNumber(`${field}.step`, given.step);
  if (given.threshold !== undefined) checkNumber(`${field}.threshold`, given.threshold, 0);
  if (given.window !== undefined) checkInteger(`${field}.window`, given.window, 1);
  return given as unknown as CurriculumSpec;
}

const STOP_KEYS = ['metric', 'below', 'trainOn'];

/** Checks a {@link StopCondition}; errors name the field and value. */
export function checkStopCondition(stopAt: unknown, where: string): StopCondition {
  if (!stopAt || typeof stopAt !== 'object' || Array.isArray(stopAt)) {
    throw invalidArgument(
      `${where}: training.stopAt`,
      stopAt,
      `{ metric: ${STOP_METRICS.join(' | ')}, below: number > 0, trainOn?: sequences }`,
    );
  }
  const given = stopAt as Record<string, unknown>;
  const unknown = Object.keys(given).find((key) => !STOP_KEYS.includes(key));
  if (unknown !== undefined) {
    throw new MannError(
      `${where}: unknown training.stopAt option '${unknown}'; valid options: ${STOP_KEYS.join(', ')}`,
    );
  }
  const metric = checkChoice(`${where}: training.stopAt.metric`, given.metric, STOP_METRICS);
  const below = given.below;
  if (typeof below !== 'number' || !Number.isFinite(below) || below <= 0) {
    throw invalidArgument(`${where}: training.stopAt.below`, below, 'a finite number > 0');
  }
  const trainOn = given.trainOn;
  if (trainOn === undefined) return { metric, below };
  if (typeof trainOn !== 'number' || !Number.isInteger(trainOn) || trainOn < 0) {
    throw invalidArgument(`${where}: training.stopAt.trainOn`, trainOn, 'a whole number >= 0');
  }
  return { metric, below, trainOn };
}

/**
 * The incremental curriculum a run trains on (see {@link TrainingOptions.curriculum}): the run's
 * task with its parameters, `spec.key` stepped from `spec.start` to `spec.end`. Throws a
 * MannError naming the task when the key or a level does not fit it.
 */
export function runCurriculum(task: TaskEntry, spec: CurriculumSpec): Curriculum {
  try {
    return incrementalCurriculum(getTaskDefinition(task.name), {
      levels: {
        key: spec.key,
        start: spec.start,
        end: spec.end,
        ...(spec.step !== undefined ? { step: spec.step } : {}),
      } as never,
      params: (task.params ?? {}) as never,
      ...(spec.threshold !== undefined ? { threshold: spec.threshold } : {}),
      ...(spec.window !== undefined ? { window: spec.window } : {}),
    });
  } catch (error) {
    throw new MannError(
      `training.curriculum of task '${task.name}': ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Checks and completes training options; errors name the field and value. */
export function resolveTraining(
  base: TrainingOptions,
  given: Partial<TrainingOptions> | undefined,
  where: string,
): TrainingOptions {
  for (const key of Object.keys(given ?? {})) {
    if (!TRAINING_KEYS.includes(key)) {
      throw new MannError(
        `${where}: unknown training option '${key}'; valid options: ${TRAINING_KEYS.join(', ')}`,
      );
    }
  }
  const t = { ...base, ...given };
  checkInteger(`${where}: training.sequences`, t.sequences, 1);
  checkInteger(`${where}: training.batchSize`, t.batchSize, 1, 4096);
  checkNumber(`${where}: training.clipNorm`, t.clipNorm, 0);
  checkNumber(`${where}: training.clipGradientValue`, t.clipGradientValue, 0);
  checkInteger(`${where}: training.evalEvery`, t.evalEvery, 1);
  checkInteger(`${where}: training.evalSize`, t.evalSize, 1, 4096);
  checkInteger(`${where}: training.checkpointEvery`, t.checkpointEvery, 1);
  if (t.stopAt !== undefined) checkStopCondition(t.stopAt, where);
  if (t.curriculum !== undefined) checkCurriculumSpec(t.curriculum, where);
  if (!t.optimizer || typeof t.optimizer !== 'object') {
    throw new MannError(
      `${where}: training.optimizer must be { kind: 'adam' | 'rmsprop', ... }, got ${JSON.stringify(t.optimizer)}`,
    );
  }
  return t;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The run id of a spec (see {@link RunSpec.id}). */
export function runId(spec: Omit<RunSpec, 'id'>): string {
  const hash = createHash('sha256')
    .update(
      stableJson({
        model: spec.model.config,
        task: spec.task,
        seed: spec.seed,
        training: spec.training,
      }),
    )
    .digest('hex')
    .slice(0, 8);
  return `${spec.suite}/${spec.task.name}/${spec.model.label}/s${spec.seed}-${hash}`;
}

/** Checks a suite (names unique, tasks registered, options valid). */
export function validateSuite(suite: SuiteSpec): void {
  const where = `suite '${suite?.name}'`;
  const problems = suiteProblems(suite);
  if (problems.length > 0) throw new MannError(`${where}: ${problems.join('; ')}`);
  if (!suite.models?.length) throw new MannError(`${where} lists no models`);
  if (!suite.tasks?.length) throw new MannError(`${where} lists no tasks`);
  if (!suite.seeds?.length) throw new MannError(`${where} lists no seeds`);
  const labels = new Set<string>();
  for (const m of suite.models) {
    if (!m || typeof m.label !== 'string' || !m.config || typeof m.config.type !== 'string') {
      throw new MannError(
        `${where}: each model must be { label, config: { type, ... } }, got ${JSON.stringify(m)}`,
      );
    }
    if (labels.has(m.label))
      throw new MannError(`${where}: model label '${m.label}' is used twice`);
    labels.add(m.label);
  }
  for (const t of suite.tasks) {
    const definition = getTaskDefinition(t.name);
    for (const label of t.models ?? []) {
      if (!labels.has(label)) {
        const guess = closest(label, [...labels]);
        throw new MannError(
          `${where}: task '${t.name}': models lists '${label}', which is not a model label of the suite${guess ? `; did you mean ${guess}?` : ''} (model labels: ${[...labels].join(', ')})`,
        );
      }
    }
    for (const set of t.generalisation ?? []) {
      if (typeof set !== 'string') {
        if (!set || typeof set.name !== 'string' || !set.params || typeof set.params !== 'object') {
          throw new MannError(
            `${where}: task '${t.name}': a generalisation set must be a variant name or { name, params }, got ${JSON.stringify(set)}`,
          );
        }
        // Build it once so bad parameters fail now, naming the key and the accepted range.
        createTask(t.name, { ...t.params, ...set.params });
        continue;
      }
      const v = set;
      if (!(v in definition.variants)) {
        throw new MannError(
          `${where}: task '${t.name}' has no generalisation variant '${v}'; valid: ${Object.keys(definition.variants).join(', ')}`,
        );
      }
    }
  }
  (suite.overrides ?? []).forEach((o, i) => {
    const mismatch = (field: string, name: string, known: string[], what: string): MannError => {
      const guess = closest(name, known);
      return new MannError(
        `${where}: overrides[${i}].${field}: no ${what} '${name}' in the suite${guess ? `; did you mean ${guess}?` : ''} (${what}s: ${known.join(', ')})`,
      );
    };
    if (o.model !== undefined && !labels.has(o.model))
      throw mismatch('model', o.model, [...labels], 'model label');
    const taskNames = suite.tasks.map((t) => t.name);
    if (o.task !== undefined && !taskNames.includes(o.task))
      throw mismatch('task', o.task, taskNames, 'task');
  });
  suite.seeds.forEach((s, i) => {
    checkInteger(`${where}: seeds[${i}]`, s, 0);
    const first = suite.seeds.indexOf(s);
    if (first !== i) {
      throw new MannError(
        `${where}: seeds[${i}] is ${s}, already listed as seeds[${first}]; each seed must appear once`,
      );
    }
  });
  resolveTraining(DEFAULT_TRAINING, suite.training, where);
}

/** The runs of a suite, optionally restricted to some model labels, task names and a seed count. */
export function expandSuite(
  suite: SuiteSpec,
  filter: { models?: readonly string[]; tasks?: readonly string[]; seeds?: number } = {},
): RunSpec[] {
  validateSuite(suite);
  const pick = <T>(
    all: readonly T[],
    names: readonly string[] | undefined,
    name: (x: T) => string,
    what: string,
  ): T[] => {
    if (!names?.length) return [...all];
    for (const n of names) {
      if (!all.some((x) => name(x) === n)) {
        throw new MannError(
          `suite '${suite.name}' has no ${what} '${n}'; it has: ${all.map(name).join(', ')}`,
        );
      }
    }
    return all.filter((x) => names.includes(name(x)));
  };
  const models = pick(suite.models, filter.models, (m) => m.label, 'model');
  const tasks = pick(suite.tasks, filter.tasks, (t) => t.name, 'task');
  const seeds =
    filter.seeds === undefined
      ? suite.seeds
      : Array.from(
          { length: checkInteger('seeds', filter.seeds, 1, 1000) },
          (_, i) => suite.seeds[i] ?? (suite.seeds.at(-1) ?? 0) + i,
        );
  const runs: RunSpec[] = [];
  for (const task of tasks) {
    for (const model of models) {
      if (task.models && !task.models.includes(model.label)) continue;
      let training = resolveTraining(DEFAULT_TRAINING, suite.training, `suite '${suite.name}'`);
      let config: ModelEntry['config'] = model.config;
      for (const o of suite.overrides ?? []) {
        if (
          (o.model === undefined || o.model === model.label) &&
          (o.task === undefined || o.task === task.name)
        ) {
          training = resolveTraining(training, o.training, `suite '${suite.name}' override`);
          config = { ...config, ...o.config, type: config.type };
        }
      }
      // Build the curriculum once so a key or level the task rejects fails now, naming it.
      if (training.curriculum) runCurriculum(task, training.curriculum);
      for (const seed of seeds) {
        const base = {
          suite: suite.name,
          model: { label: model.label, config },
          task,
          seed,
          training,
        };
        runs.push({ id: runId(base), ...base });
      }
    }
  }
  // Two identical runs would train the same checkpoint at once: reject them before anything runs.
  const seen = new Set<string>();
  for (const run of runs) {
    if (seen.has(run.id)) {
      throw new MannError(
        `suite '${suite.name}' lists the same run twice: ${run.id} (the same task, model and seed); remove the duplicate`,
      );
    }
    seen.add(run.id);
  }
  return runs;
}

/** Reads a suite from a JSON file; its name defaults to the file's base name. */
export async function loadSuiteFile(path: string): Promise<SuiteSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new MannError(`cannot read suite file ${path}: ${(error as Error).message}`);
  }
  let parsed: Partial<SuiteSpec>;
  try {
    parsed = JSON.parse(text) as Partial<SuiteSpec>;
  } catch (error) {
    throw new MannError(`suite file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const problems = suiteProblems(parsed);
  if (problems.length > 0) throw new MannError(`suite file ${path}: ${problems.join('; ')}`);
  const suite = {
    name: basename(path, extname(path)),
    description: `suite from ${path}`,
    seeds: [1],
    ...parsed,
    training: resolveTraining(DEFAULT_TRAINING, parsed.training, `suite file ${path}`),
  } as SuiteSpec;
  try {
    validateSuite(suite);
  } catch (error) {
    // Name the file rather than the suite: the path in the message is a path in that file.
    if (!(error instanceof MannError)) throw error;
    throw new MannError(
      `suite file ${path}: ${error.message.replace(`suite '${suite.name}': `, '')}`,
    );
  }
  return suite;
}
