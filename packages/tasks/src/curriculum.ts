import { MannError, Rng, checkChoice, checkInteger, checkNumber } from '@mann/core';
import type { RngState, SequenceBatch } from '@mann/core';
import { resolveParams } from './params.js';
import type { Task, TaskDefinition } from './task.js';

/** Advance when the mean bit errors per sequence over the window drop below this (docs/spec.md section 4). */
export const DEFAULT_CURRICULUM_THRESHOLD = 0.1;

/** Updates (batches) averaged before deciding to advance. */
export const DEFAULT_CURRICULUM_WINDOW = 10;

/** The three schedules. */
export type CurriculumKind = 'none' | 'incremental' | 'mixed';

/** What a checkpoint stores to resume a curriculum exactly (plain JSON). */
export interface CurriculumState {
  readonly kind: CurriculumKind;
  /** The current (highest reached) level, 0-based. */
  readonly level: number;
  /** The bit errors per sequence counted since the last advance, at most `window`, oldest first. */
  readonly recentErrors: readonly number[];
  /** Mixed curricula: the level of the last `task()` call (null before the first). */
  readonly lastLevel: number | null;
  /** Mixed curricula: the stream that picks levels. */
  readonly rng: RngState | null;
}

/**
 * A schedule of task difficulty. The trainer calls `task()` once per batch, samples from it,
 * trains, and reports the batch's bit errors per sequence through `update`.
 */
export interface Curriculum<P = object, B extends SequenceBatch = SequenceBatch> {
  readonly kind: CurriculumKind;
  /** The current (highest reached) level, 0-based. */
  readonly level: number;
  /** Number of levels. */
  readonly levels: number;
  /** The task to draw the next batch from. */
  task(): Task<P, B>;
  /** The task of level `level` (0-based). */
  taskAt(level: number): Task<P, B>;
  /** Records one batch's bit errors per sequence; returns true when this advanced the level. */
  update(bitErrorsPerSequence: number): boolean;
  getState(): CurriculumState;
  /** Restores {@link getState}'s output; throws a {@link MannError} if it does not fit. */
  setState(state: CurriculumState): void;
}

/** A parameter stepped from `start` to `end`: levels start, start + step, ..., end. */
export interface CurriculumRange<P> {
  readonly key: keyof P & string;
  readonly start: number;
  readonly end: number;
  /** Default 1 (or -1 when end < start). The last level is always `end`. */
  readonly step?: number;
}

/** Options of {@link incrementalCurriculum} and {@link mixedCurriculum}. */
export interface CurriculumOptions<P> {
  /** Parameter overrides per level (easiest first), or one parameter stepped over a range. */
  readonly levels: readonly Partial<P>[] | CurriculumRange<P>;
  /** Overrides applied to every level, on top of the definition's defaults (typed or strings). */
  readonly params?: Partial<P> | Readonly<Record<string, string>>;
  /** Advance when the window's mean bit errors per sequence is below this. Default 0.1. */
  readonly threshold?: number;
  /** Number of most recent updates averaged; advancing needs a full window. Default 10. */
  readonly window?: number;
}

/** Options of {@link mixedCurriculum}: as incremental, plus the seed of the level draws. */
export interface MixedCurriculumOptions<P> extends CurriculumOptions<P> {
  /** Seed of the generator that picks levels. Default 0. */
  readonly seed?: number;
}

/** The parameter overrides of each level, expanding a {@link CurriculumRange}. */
export function curriculumLevels<P>(levels: CurriculumOptions<P>['levels']): Partial<P>[] {
  if (Array.isArray(levels)) {
    if (levels.length === 0) throw new MannError('curriculum levels must not be empty');
    return [...(levels as readonly Partial<P>[])];
  }
  const range = levels as CurriculumRange<P>;
  checkNumber('levels.start', range.start);
  checkNumber('levels.end', range.end);
  const step = range.step ?? (range.end >= range.start ? 1 : -1);
  if (step === 0 || !Number.isFinite(step) || (range.end - range.start) * step < 0) {
    throw new MannError(
      `levels.step must move from start (${range.start}) towards end (${range.end}), got ${step}`,
    );
  }
  const values: number[] = [];
  for (let v = range.start; step > 0 ? v < range.end : v > range.end; v += step) values.push(v);
  values.push(range.end);
  return values.map((v) => ({ [range.key]: v }) as Partial<P>);
}

/** A single level that never changes: `task()` is always `task`. */
export function noCurriculum<P, B extends SequenceBatch>(task: Task<P, B>): Curriculum<P, B> {
  return {
    kind: 'none',
    level: 0,
    levels: 1,
    task: () => task,
    taskAt(level) {
      checkInteger('level', level, 0, 0);
      return task;
    },
    update(bitErrorsPerSequence) {
      checkNumber('bitErrorsPerSequence', bitErrorsPerSequence, 0);
      return false;
    },
    getState: () => ({ kind: 'none', level: 0, recentErrors: [], lastLevel: null, rng: null }),
    setState(state) {
      checkChoice('state.kind', state.kind, ['none']);
      checkInteger('state.level', state.level, 0, 0);
    },
  };
}

class LevelledCurriculum<P extends object, B extends SequenceBatch> implements Curriculum<P, B> {
  level = 0;
  private recent: number[] = [];
  private lastLevel: number | null = null;

  constructor(
    readonly kind: 'incremental' | 'mixed',
    private readonly tasks: readonly Task<P, B>[],
    private readonly threshold: number,
    private readonly window: number,
    private rng: Rng | null,
  ) {}

  get levels(): number {
    return this.tasks.length;
  }

  taskAt(level: number): Task<P, B> {
    checkInteger('level', level, 0, this.tasks.length - 1);
    return this.tasks[level] as Task<P, B>;
  }

  task(): Task<P, B> {
    const level = this.rng ? this.rng.int(0, this.level) : this.level;
    this.lastLevel = level;
    return this.taskAt(level);
  }

  update(bitErrorsPerSequence: number): boolean {
    checkNumber('bitErrorsPerSequence', bitErrorsPerSequence, 0);
    if (this.kind === 'mixed' && this.lastLevel !== this.level) return false;
    this.recent.push(bitErrorsPerSequence);
    if (this.recent.length > this.window) this.recent.shift();
    const mean = this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
    if (this.recent.length < this.window || mean >= this.threshold) return false;
    if (this.level >= this.tasks.length - 1) return false;
    this.level++;
    this.recent = [];
    return true;
  }

  getState(): CurriculumState {
    return {
      kind: this.kind,
      level: this.level,
      recentErrors: [...this.recent],
      lastLevel: this.lastLevel,
      rng: this.rng ? this.rng.getState() : null,
    };
  }

  setState(state: CurriculumState): void {
    checkChoice('state.kind', state.kind, [this.kind]);
    checkInteger('state.level', state.level, 0, this.tasks.length - 1);
    if (
      !Array.isArray(state.recentErrors) ||
      state.recentErrors.length > this.window ||
      state.recentErrors.some((e) => typeof e !== 'number' || !Number.isFinite(e) || e < 0)
    ) {
      throw new MannError(
        `state.recentErrors must be at most ${this.window} finite numbers >= 0, got ${JSON.stringify(state.recentErrors)}`,
      );
    }
    if (state.lastLevel !== null) checkInteger('state.lastLevel', state.lastLevel, 0, state.level);
    if (this.kind === 'mixed' && !state.rng) {
      throw new MannError('state.rng must be an RngState for a mixed curriculum, got null');
    }
    this.rng = state.rng ? Rng.fromState(state.rng) : null;
    this.level = state.level;
    this.recent = [...state.recentErrors];
    this.lastLevel = state.lastLevel;
  }
}

function buildLevels<P extends object, B extends SequenceBatch>(
  definition: TaskDefinition<P, B>,
  options: CurriculumOptions<P>,
): Task<P, B>[] {
  const base = resolveParams(
    definition.name,
    definition.paramSpecs,
    definition.defaults as P,
    (options.params ?? {}) as Readonly<Record<string, unknown>>,
  );
  return curriculumLevels(options.levels).map((overrides, i) => {
    try {
      const params = resolveParams(definition.name, definition.paramSpecs, base, overrides);
      return definition.create(params);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new MannError(`curriculum level ${i} (${JSON.stringify(overrides)}): ${reason}`);
    }
  });
}

function checkSchedule(options: { readonly threshold?: number; readonly window?: number }): {
  threshold: number;
  window: number;
} {
  return {
    threshold: checkNumber('threshold', options.threshold ?? DEFAULT_CURRICULUM_THRESHOLD, 0),
    window: checkInteger('window', options.window ?? DEFAULT_CURRICULUM_WINDOW, 1),
  };
}

/**
 * Incremental difficulty, the "naive" syllabus of Collier & Beel (2018) after Zaremba &
 * Sutskever: train on one level at a time, easiest first. After each update, if the last
 * `window` updates at the current level are all recorded and their mean bit errors per sequence
 * is below `threshold`, move to the next level and start a new window. The last level is kept
 * once reached. `task()` always returns the current level's task.
 *
 * Every level's params are validated at construction (errors name the level).
 */
export function incrementalCurriculum<P extends object, B extends SequenceBatch>(
  definition: TaskDefinition<P, B>,
  options: CurriculumOptions<P>,
): Curriculum<P, B> {
  const { threshold, window } = checkSchedule(options);
  return new LevelledCurriculum(
    'incremental',
    buildLevels(definition, options),
    threshold,
    window,
    null,
  );
}

/**
 * Incremental difficulty with uniform mixing of levels (Collier & Beel's "look back" syllabus):
 * each `task()` call picks a level uniformly from 0..current, so earlier levels keep being
 * practised. Advancing works as in {@link incrementalCurriculum}, but only updates that follow a
 * `task()` call at the current level enter the window (errors on easier levels do not count).
 * Call `task()` once per batch and `update` after it. The level draws come from an internal
 * generator seeded with `seed`; its position is part of the state.
 */
export function mixedCurriculum<P extends object, B extends SequenceBatch>(
  definition: TaskDefinition<P, B>,
  options: MixedCurriculumOptions<P>,
): Curriculum<P, B> {
  const { threshold, window } = checkSchedule(options);
  const rng = new Rng(options.seed ?? 0);
  return new LevelledCurriculum('mixed', buildLevels(definition, options), threshold, window, rng);
}
