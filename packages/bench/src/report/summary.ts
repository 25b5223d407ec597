/**
 * The numbers of the per-task tables, computed from the report data. Both the HTML and the
 * Markdown report print these, so they agree.
 */

import { modelOrder } from './series.js';
import { medianOf, spreadOf, type Spread } from './stats.js';
import {
  CONVERGENCE_BIT_ERRORS,
  type CurvePoint,
  type ReportData,
  type RunRecord,
} from './types.js';

/** Evaluation set of the training distribution; its numbers are a run's final cost and errors. */
export const TRAINING_SET = 'train';

/** When the finished seeds of a model first reached the convergence threshold. */
export interface ConvergenceSummary {
  /**
   * Median, over the seeds that converged, of the sequences seen when each converged (see
   * {@link runConvergence}); `null` when no seed converged.
   */
  readonly medianSequences: number | null;
  /** Median training wall time (ms) at convergence over the same seeds; `null` likewise. */
  readonly medianWallMs: number | null;
  /** Seeds that converged. */
  readonly converged: number;
  /** Seeds considered: the finished runs. */
  readonly seeds: number;
}

/** Bit errors per sequence on one generalisation set, over the finished seeds. */
export interface GeneralisationSummary {
  readonly set: string;
  readonly x: number | null;
  readonly bitErrors: Spread;
}

/** One row of a task's table: a model over its seeds. Final numbers use finished runs only. */
export interface ModelSummary {
  readonly modelLabel: string;
  readonly modelType: string;
  /** Trainable parameters (the same for every seed). */
  readonly parameters: number;
  readonly seedsDone: number;
  /** Runs of the model on the task, whatever their status. */
  readonly seedsTotal: number;
  readonly convergence: ConvergenceSummary;
  /** Bits per sequence on the final evaluation of the training distribution. */
  readonly finalCost: Spread | null;
  /** Bit errors per sequence on the final evaluation of the training distribution. */
  readonly finalBitErrors: Spread | null;
  /** One entry per generalisation set the model was evaluated on, in the task's set order. */
  readonly generalisation: readonly GeneralisationSummary[];
  /** Training wall time per run, milliseconds. */
  readonly wallMs: Spread | null;
  /** Training throughput per run: sequences / wall time in seconds. */
  readonly sequencesPerSecond: Spread | null;
}

/** A run that failed, with its error. */
export interface FailedRunSummary {
  readonly runId: string;
  readonly modelLabel: string;
  readonly seed: number;
  readonly error: string;
}

/** Everything a task's section shows besides its charts. */
export interface TaskSummary {
  readonly task: string;
  readonly models: readonly ModelSummary[];
  /** Generalisation sets of the task, by increasing `x` (sets without one last), then name. */
  readonly generalisationSets: readonly { readonly set: string; readonly x: number | null }[];
  readonly failed: readonly FailedRunSummary[];
}

/**
 * One summary per task, in the order the runs name the tasks; models in the order the runs
 * name them. A run converged at the first `eval` curve point (by sequences seen) whose bit
 * errors per sequence are below `threshold` (strictly).
 */
export function summariseTasks(
  data: Pick<ReportData, 'runs' | 'curves' | 'evaluations'>,
  threshold = CONVERGENCE_BIT_ERRORS,
): TaskSummary[] {
  const tasks = [...new Set(data.runs.map((run) => run.task))];
  const curvesByRun = groupBy(
    data.curves.filter((p) => p.kind === 'eval'),
    (p) => p.runId,
  );
  return tasks.map((task) => {
    const runs = data.runs.filter((run) => run.task === task);
    const runIds = new Set(runs.map((run) => run.id));
    const evaluations = data.evaluations.filter((e) => runIds.has(e.runId));
    const sets = new Map<string, number | null>();
    for (const e of evaluations) if (e.set !== TRAINING_SET) sets.set(e.set, e.x);
    const generalisationSets = [...sets]
      .map(([set, x]) => ({ set, x }))
      .sort((a, b) => (a.x ?? Infinity) - (b.x ?? Infinity) || a.set.localeCompare(b.set));

    const models = modelOrder(runs).map((modelLabel): ModelSummary => {
      const all = runs.filter((run) => run.modelLabel === modelLabel);
      const done = all.filter((run) => run.status === 'done');
      const doneIds = new Set(done.map((run) => run.id));
      const evaluationsOf = (set: string): number[] =>
        evaluations
          .filter((e) => e.set === set && doneIds.has(e.runId))
          .map((e) => e.bitErrorsPerSequence);
      const training = evaluations.filter((e) => e.set === TRAINING_SET && doneIds.has(e.runId));
      const first = all[0] as RunRecord;
      return {
        modelLabel,
        modelType: first.modelType,
        parameters: first.parameters,
        seedsDone: done.length,
        seedsTotal: all.length,
        convergence: convergence(done, curvesByRun, threshold),
        finalCost: spreadOf(training.map((e) => e.bitsPerSequence)),
        finalBitErrors: spreadOf(training.map((e) => e.bitErrorsPerSequence)),
        generalisation: generalisationSets.flatMap(({ set, x }) => {
          const bitErrors = spreadOf(evaluationsOf(set));
          return bitErrors === null ? [] : [{ set, x, bitErrors }];
        }),
        wallMs: spreadOf(done.map((run) => run.wallMs)),
        sequencesPerSecond: spreadOf(
          done.filter((run) => run.wallMs > 0).map((run) => run.sequences / (run.wallMs / 1000)),
        ),
      };
    });

    const failed = runs
      .filter((run) => run.status === 'failed')
      .map((run) => ({
        runId: run.id,
        modelLabel: run.modelLabel,
        seed: run.seed,
        error: run.error ?? 'no error message recorded',
      }));
    return { task, models, generalisationSets, failed };
  });
}

/** The first `eval` point of `points` with bit errors per sequence below `threshold`, or null. */
export function convergencePoint(
  points: readonly CurvePoint[],
  threshold = CONVERGENCE_BIT_ERRORS,
): CurvePoint | null {
  const first = points
    .filter((p) => p.kind === 'eval')
    .sort((a, b) => a.sequences - b.sequences)
    .find((p) => p.bitErrorsPerSequence < threshold);
  return first ?? null;
}

/** Sequences seen at the first `eval` point of `points` below `threshold`, or null. */
export function sequencesToConvergence(
  points: readonly CurvePoint[],
  threshold = CONVERGENCE_BIT_ERRORS,
): number | null {
  return convergencePoint(points, threshold)?.sequences ?? null;
}

/**
 * When a run converged: the convergence it recorded when it stopped on its own target
 * (`training.stopAt`), else the first `eval` point of its curve below `threshold` bit errors
 * per sequence; null when neither.
 */
export function runConvergence(
  run: RunRecord,
  points: readonly CurvePoint[],
  threshold = CONVERGENCE_BIT_ERRORS,
): { readonly sequences: number; readonly wallMs: number } | null {
  if (run.converged !== undefined) return run.converged;
  const point = convergencePoint(points, threshold);
  return point === null ? null : { sequences: point.sequences, wallMs: point.wallMs };
}

function convergence(
  done: readonly RunRecord[],
  curvesByRun: ReadonlyMap<string, readonly CurvePoint[]>,
  threshold: number,
): ConvergenceSummary {
  const reached = done
    .map((run) => runConvergence(run, curvesByRun.get(run.id) ?? [], threshold))
    .filter((c): c is { sequences: number; wallMs: number } => c !== null);
  return {
    medianSequences: medianOf(reached.map((c) => c.sequences)),
    medianWallMs: medianOf(reached.map((c) => c.wallMs)),
    converged: reached.length,
    seeds: done.length,
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group === undefined) groups.set(key(item), [item]);
    else group.push(item);
  }
  return groups;
}
