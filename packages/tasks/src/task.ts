import { MannError, Rng, checkInteger, scoreSequences, validateBatch } from '@mann/core';
import type { SequenceBatch, SequenceScores } from '@mann/core';
import type { ParamSpecs } from './params.js';
import { checkParams, resolveParams } from './params.js';

/**
 * Scores of one batch, per sequence and averaged over the batch: always the three
 * {@link SequenceScores} (bits per sequence, bit errors per sequence, exact-sequence accuracy),
 * plus task-specific numbers documented on each task (e.g. n-grams: `optimalBitsPerSequence`,
 * `gapToOptimal`).
 */
export type TaskScores = SequenceScores & Readonly<Record<string, number>>;

/**
 * One configured task: fixed widths and a seeded generator of {@link SequenceBatch}es.
 *
 * @typeParam P - the params object (every field resolved, see the task's `DEFAULT_*` constant)
 * @typeParam B - the batch type `sample` returns; tasks that need per-sequence data to score
 *   (n-gram optimal cost, graphs, bAbI questions) extend {@link SequenceBatch}.
 */
export interface Task<P = object, B extends SequenceBatch = SequenceBatch> {
  /** Registry name, e.g. `'copy'`. */
  readonly name: string;
  /** Fully resolved params. */
  readonly params: Readonly<P>;
  /** Channels of every input step. */
  readonly inputWidth: number;
  /** Channels of every target step (sigmoid outputs). */
  readonly outputWidth: number;
  /**
   * A batch of `batchSize` sequences drawn from `rng` (advances it). The same rng state gives an
   * identical batch. Shorter sequences are zero-padded to the longest; padding has mask 0.
   */
  sample(rng: Rng, batchSize: number): B;
  /**
   * Scores sigmoid probabilities `[B, T, outputWidth]` (row-major) for a batch this task produced.
   */
  score(probabilities: Float32Array, batch: B): TaskScores;
  /** Names of the generalisation variants, e.g. copy: `['length-30', ..., 'length-120']`. */
  readonly generalisation: readonly string[];
  /**
   * The same task with the parameters of generalisation variant `name` applied on top of this
   * task's params. Widths never change, so a model trained on this task accepts the variant.
   *
   * @throws MannError listing the valid names.
   */
  variant(name: string): Task<P, B>;
  /**
   * The same task with `overrides` applied as a generalisation set of its own (what
   * {@link Task.variant} does for a named set). Parameters tied to the training distribution keep
   * their training values unless `overrides` names them (repeat copy: the normalisation of the
   * repeat count, so 20 repeats after training on 1-10 reads (20 - 5.5) / 2.87).
   *
   * @throws MannError for an unknown key or an invalid value.
   */
  variantWith(overrides: Readonly<Partial<P>> | Readonly<Record<string, unknown>>): Task<P, B>;
}

/**
 * A named task family: documented params with defaults, generalisation variants, and a factory.
 * `create` validates the params (types, ranges and cross-field constraints) before building.
 */
export interface TaskDefinition<
  P extends object = object,
  B extends SequenceBatch = SequenceBatch,
> {
  /** Registry name. */
  readonly name: string;
  /** One-line description. */
  readonly description: string;
  /** The default value of every parameter. */
  readonly defaults: Readonly<P>;
  /** Type, range and documentation of every parameter. */
  readonly paramSpecs: ParamSpecs<P>;
  /** Generalisation variants: name -> parameter overrides applied on top of the task's params. */
  readonly variants: Readonly<Record<string, Partial<P>>>;
  /** Builds a task from fully resolved params; throws a {@link MannError} for invalid ones. */
  create(params: P): Task<P, B>;
}

/** What a task computes once its params are fixed; {@link defineTask} wraps it into a {@link Task}. */
export interface TaskBehaviour<B extends SequenceBatch> {
  /** Channels of every input step. */
  readonly inputWidth: number;
  /** Channels of every target step. */
  readonly outputWidth: number;
  /** Draws `batchSize` (already validated) sequences. */
  sample(rng: Rng, batchSize: number): B;
  /** Task-specific scores added to `base`, the {@link SequenceScores} of the same batch. */
  extraScores?(probabilities: Float32Array, batch: B, base: SequenceScores): Record<string, number>;
}

/** The parts of a task family that {@link defineTask} turns into a {@link TaskDefinition}. */
export interface TaskRecipe<P extends object, B extends SequenceBatch> {
  readonly name: string;
  readonly description: string;
  readonly defaults: P;
  readonly paramSpecs: ParamSpecs<P>;
  readonly variants?: Readonly<Record<string, Partial<P>>>;
  /** Cross-field constraints (e.g. minLength <= maxLength); throw a {@link MannError}. */
  check?(params: P): void;
  /**
   * Parameters a generalisation set inherits from the training task instead of deriving them from
   * its own overrides (e.g. the scale of an input that encodes a count). Applied by `variant` and
   * `variantWith` before the set's overrides.
   */
  pinned?(training: P): Partial<P>;
  build(params: P): TaskBehaviour<B>;
}

/** Largest batch a task will generate in one call. */
export const MAX_BATCH_SIZE = 1 << 16;

/**
 * Builds a {@link TaskDefinition} from a recipe: `create` checks every parameter against its spec
 * and the recipe's cross-field check, and the resulting {@link Task} validates `batchSize`, checks
 * the batch and probabilities it scores, and provides `variant`.
 */
export function defineTask<P extends object, B extends SequenceBatch>(
  recipe: TaskRecipe<P, B>,
): TaskDefinition<P, B> {
  const variants = recipe.variants ?? {};
  const definition: TaskDefinition<P, B> = {
    name: recipe.name,
    description: recipe.description,
    defaults: Object.freeze({ ...recipe.defaults }),
    paramSpecs: recipe.paramSpecs,
    variants,
    create(params: P): Task<P, B> {
      checkParams(recipe.name, recipe.paramSpecs, params);
      recipe.check?.(params);
      const frozen = Object.freeze({ ...params });
      const behaviour = recipe.build(frozen);
      const task: Task<P, B> = {
        name: recipe.name,
        params: frozen,
        inputWidth: behaviour.inputWidth,
        outputWidth: behaviour.outputWidth,
        generalisation: Object.freeze(Object.keys(variants)),
        sample(rng: Rng, batchSize: number): B {
          if (!(rng instanceof Rng)) {
            throw new MannError(
              `rng must be an Rng from @mann/core (new Rng(seed)), got ${rng === null ? 'null' : typeof rng}`,
            );
          }
          checkInteger('batchSize', batchSize, 1, MAX_BATCH_SIZE);
          return behaviour.sample(rng, batchSize);
        },
        score(probabilities: Float32Array, batch: B): TaskScores {
          validateBatch(batch);
          if (batch.inputWidth !== task.inputWidth || batch.outputWidth !== task.outputWidth) {
            throw new MannError(
              `batch has widths in=${batch.inputWidth}, out=${batch.outputWidth}; task '${recipe.name}' expects in=${task.inputWidth}, out=${task.outputWidth}`,
            );
          }
          const expected = batch.batchSize * batch.steps * batch.outputWidth;
          if (probabilities.length !== expected) {
            throw new MannError(
              `probabilities has ${probabilities.length} values, expected ${expected} = [B=${batch.batchSize}, T=${batch.steps}, O=${batch.outputWidth}]`,
            );
          }
          const base = scoreSequences(probabilities, batch);
          return { ...base, ...behaviour.extraScores?.(probabilities, batch, base) };
        },
        variant(name: string): Task<P, B> {
          const overrides = Object.hasOwn(variants, name) ? variants[name] : undefined;
          if (!overrides) {
            const valid = Object.keys(variants);
            throw new MannError(
              `unknown variant '${name}' of task '${recipe.name}'; valid variants: ${valid.length ? valid.join(', ') : '(none)'}`,
            );
          }
          return task.variantWith(overrides);
        },
        variantWith(overrides: Readonly<Record<string, unknown>>): Task<P, B> {
          const base = { ...frozen, ...recipe.pinned?.(frozen) };
          return definition.create(resolveParams(recipe.name, recipe.paramSpecs, base, overrides));
        },
      };
      return Object.freeze(task);
    },
  };
  return Object.freeze(definition);
}
