import * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type { RecurrentModel } from '../interfaces.js';
import { batchTensors, type SequenceBatch } from '../data.js';
import {
  clipByGlobalNorm,
  clipByValue,
  clipFlatGradients,
  globalNorm,
  type NamedTensors,
} from '../math/clip.js';
import { checkInteger, checkNumber, invalidArgument, MannError } from '../errors.js';
import { maskedBitsPerSequence, scoreSequences, type SequenceScores } from './loss.js';
import { Optimizer, type OptimizerConfig, type OptimizerState } from './optimizers.js';
import { checkThreadEnvironment, currentThreadEnvironment } from './thread-environment.js';
import { chunkRanges } from './shards.js';
import { TrainingThreads, type WorkerScript } from './threads.js';

/** Options of a {@link Trainer}. */
export interface TrainerOptions {
  /** Default `{ kind: 'adam', learningRate: 1e-3 }`. */
  readonly optimizer?: OptimizerConfig;
  /** Global-norm gradient clip (0 disables). Default {@link DEFAULT_CLIP_NORM}. */
  readonly clipNorm?: number;
  /** Element-wise gradient clip to [-v, v] (0 disables; the NTM paper uses 10). Default 0. */
  readonly clipGradientValue?: number;
  /**
   * Consecutive non-finite steps tolerated: a step whose loss or gradient norm is NaN or
   * infinite is skipped and counted; one more than this stops training with an error.
   * Default {@link DEFAULT_MAX_BAD_STEPS}.
   */
  readonly maxBadSteps?: number;
  /**
   * Threads that share each training step (synchronous data parallelism): the batch is cut
   * into contiguous chunks (sizes differ by at most one): `2 x workers` when each keeps at least
   * 8 sequences, else `workers` (`chunkRanges`), which this thread and
   * `workers - 1` training threads (each with a replica of the model on the same backend) claim
   * one at a time as they come free; the chunks' gradients are averaged with weights chunk size /
   * batch size in chunk order, whichever thread computed them, then clipped and applied once,
   * here. A run is deterministic for a given `workers`; results
   * agree with 1 thread to float32 rounding. 1 (the default) starts no thread and is bitwise the
   * single-thread path. Not stored in checkpoints.
   *
   * In Node the threads are `node:worker_threads` and start at the first step, at most one per
   * chunk of its batch (a batch of 4 has work for 4 threads at most; the results do not depend
   * on how many run), or all of them with {@link Trainer.startThreads}. In a browser they are
   * Web Workers, which need a cross-origin isolated page, this trainer in a Web Worker (a page's
   * main thread may not block on `Atomics.wait`), {@link TrainerOptions.workerScript}, and
   * `await trainer.startThreads()` before the first step; otherwise more than 1 throws, naming
   * what is missing.
   */
  readonly workers?: number;
  /**
   * Modules each training thread imports before it rebuilds the model from its config (package
   * names, file paths or file URLs; a module's exported `register()` is called), so that model
   * types registered by packages or plugins exist there too. Default: none (only the core's own
   * types: `lstm`, `memory`). A bundled browser thread cannot import package names: its
   * {@link TrainerOptions.workerScript} imports them instead.
   */
  readonly workerModules?: readonly string[];
  /**
   * The script the training threads run, which calls `serveTrainingThread()` from `@mann/core`
   * after importing the packages or plugins that register the model's type: its URL (a string
   * or a URL; in Node also a file path), or a function that starts one worker on it, the form
   * bundlers such as Vite recognise and bundle:
   * `() => new Worker(new URL('./training-thread.ts', import.meta.url), { type: 'module' })`.
   * Required in a browser; in Node, default core's own script (with {@link workerModules}).
   */
  readonly workerScript?: WorkerScript;
}

/** The options that choose the training threads (not stored in checkpoints). */
export type ThreadOptions = Pick<TrainerOptions, 'workers' | 'workerModules' | 'workerScript'>;

/** The options that define the training itself (stored in checkpoints): not `workers*`. */
export type ResolvedTrainerOptions = Required<Omit<TrainerOptions, keyof ThreadOptions>>;

/** Upper bound of {@link TrainerOptions.workers}. */
export const MAX_TRAINING_THREADS = 256;

/**
 * The threads, this one included, that train a batch of `batchSize` sequences with `workers`
 * ({@link TrainerOptions.workers}): one per chunk of the batch, at most `workers`, so at most one
 * per sequence; 1 when either is 1 (a batch of one sequence trains on this thread). A `Trainer`
 * whose first step starts its threads starts this many for that step's batch.
 */
export function trainingThreadsFor(workers: number, batchSize: number): number {
  if (workers <= 1 || batchSize <= 1) return 1;
  return Math.min(workers, chunkRanges(batchSize, workers).length);
}

/** Default global-norm clip (deepmind/dnc, Collier & Beel). */
export const DEFAULT_CLIP_NORM = 50;
/** Default number of consecutive non-finite steps tolerated. */
export const DEFAULT_MAX_BAD_STEPS = 10;

/** What one training step did. */
export interface TrainStepResult {
  /** Number of updates applied so far (after this step). */
  readonly step: number;
  /** Masked cross-entropy of the batch before the update, bits per sequence. */
  readonly bitsPerSequence: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  /** True when the step was skipped because the loss or gradients were not finite. */
  readonly skipped: boolean;
}

/** What a step computed before its update: loss, gradient norm, the update, what to free. */
interface StepGradients {
  readonly bits: number;
  readonly gradNorm: number;
  /** Applies the optimizer update from the clipped gradients. */
  readonly update: () => void;
  /** Frees the step's gradients (after the update, or instead of it). */
  readonly release: () => void;
}

/** The trainer's counters and optimizer state, for checkpoints. */
export interface TrainerState {
  readonly steps: number;
  readonly skippedSteps: number;
  readonly consecutiveBadSteps: number;
  readonly optimizer: OptimizerState;
}

/**
 * Trains a {@link RecurrentModel} on {@link SequenceBatch}es with masked sigmoid cross-entropy:
 * forward over the whole sequence, backward, gradient clipping (element-wise, then global norm),
 * and the optimizer update. Non-finite steps are skipped and counted (see
 * {@link TrainerOptions.maxBadSteps}). One trainer per model.
 */
export class Trainer {
  readonly optimizer: Optimizer;
  readonly clipNorm: number;
  readonly clipGradientValue: number;
  readonly maxBadSteps: number;
  /** Threads per step ({@link TrainerOptions.workers}). */
  readonly workers: number;
  readonly workerModules: readonly string[];
  readonly workerScript: WorkerScript | undefined;
  private threads: TrainingThreads | undefined;
  private threadsExited: Promise<void> = Promise.resolve();
  private threadsFailed = false;
  private steps = 0;
  private skipped = 0;
  private consecutiveBad = 0;
  private attempts = 0;

  constructor(
    readonly model: RecurrentModel,
    options: TrainerOptions = {},
  ) {
    const valid = [
      'optimizer',
      'clipNorm',
      'clipGradientValue',
      'maxBadSteps',
      'workers',
      'workerModules',
      'workerScript',
    ];
    const unknown = Object.keys(options).find((key) => !valid.includes(key));
    if (unknown !== undefined) {
      throw new MannError(
        `unknown trainer option '${unknown}'; valid options: ${valid.join(', ')}`,
      );
    }
    this.optimizer = new Optimizer(options.optimizer ?? { kind: 'adam', learningRate: 1e-3 });
    this.clipNorm = checkNumber('clipNorm', options.clipNorm ?? DEFAULT_CLIP_NORM, 0);
    this.clipGradientValue = checkNumber('clipGradientValue', options.clipGradientValue ?? 0, 0);
    this.maxBadSteps = checkInteger('maxBadSteps', options.maxBadSteps ?? DEFAULT_MAX_BAD_STEPS, 0);
    this.workers = checkInteger('workers', options.workers ?? 1, 1, MAX_TRAINING_THREADS);
    const script = options.workerScript;
    if (
      script !== undefined &&
      !(typeof script === 'string' && script !== '') &&
      !(script instanceof URL) &&
      typeof script !== 'function'
    ) {
      throw invalidArgument(
        'workerScript',
        script,
        'a URL or path of a worker script, or a function that starts a worker on one',
      );
    }
    this.workerScript = script;
    checkThreadEnvironment(this.workers, currentThreadEnvironment(), script);
    const modules = options.workerModules ?? [];
    if (!Array.isArray(modules) || modules.some((m) => typeof m !== 'string' || m === '')) {
      throw invalidArgument('workerModules', modules, 'an array of module names or paths');
    }
    this.workerModules = [...modules];
  }

  /**
   * The resolved options that define the training, enough to build an equivalent trainer
   * (stored in checkpoints; the thread count is not: it is a property of the machine).
   */
  get options(): ResolvedTrainerOptions {
    return {
      optimizer: this.optimizer.config,
      clipNorm: this.clipNorm,
      clipGradientValue: this.clipGradientValue,
      maxBadSteps: this.maxBadSteps,
    };
  }

  /** Updates applied so far. */
  get step(): number {
    return this.steps;
  }

  /** Steps skipped because they were not finite, in total. */
  get skippedSteps(): number {
    return this.skipped;
  }

  /** One update from `batch`. Throws a MannError after too many consecutive non-finite steps. */
  trainStep(batch: SequenceBatch): TrainStepResult {
    this.attempts++;
    const variables = Object.fromEntries(this.model.parameters.trainableEntries());
    const { bits, gradNorm, update, release } =
      this.workers > 1 && batch.batchSize > 1
        ? this.threadedGradients(batch, variables)
        : this.gradients(batch, variables);
    try {
      if (!Number.isFinite(bits) || !Number.isFinite(gradNorm)) {
        this.skipped++;
        this.consecutiveBad++;
        if (this.consecutiveBad > this.maxBadSteps) {
          throw new MannError(
            `training stopped at step ${this.steps + 1} (attempt ${this.attempts}): ${this.consecutiveBad} consecutive non-finite steps (loss ${bits}, gradient norm ${gradNorm}); the last good parameters are kept`,
          );
        }
        return { step: this.steps, bitsPerSequence: bits, gradNorm, skipped: true };
      }
      update();
      this.consecutiveBad = 0;
      this.steps++;
      return { step: this.steps, bitsPerSequence: bits, gradNorm, skipped: false };
    } finally {
      release();
    }
  }

  /**
   * Loss and gradient norm of `batch` on this thread, and the update from its clipped gradients
   * (tensors, freed by `release`).
   */
  private gradients(batch: SequenceBatch, variables: Record<string, tf.Variable>): StepGradients {
    const names = Object.keys(variables);
    const { loss, norm, clipped } = tidy(() => {
      const { inputs, targets, mask } = batchTensors(batch);
      const { value, grads } = tf.variableGrads(
        () => maskedBitsPerSequence(this.model.run(inputs).outputs, targets, mask),
        names.map((n) => variables[n] as tf.Variable),
      );
      const byName: NamedTensors = {};
      for (const n of names) {
        const g = grads[(variables[n] as tf.Variable).name];
        byName[n] = g ?? tf.zerosLike(variables[n] as tf.Variable);
      }
      return { loss: value, ...this.clip(byName) };
    });
    const [bits, gradNorm] = [loss.dataSync()[0] as number, norm.dataSync()[0] as number];
    loss.dispose();
    norm.dispose();
    return {
      bits,
      gradNorm,
      update: () => this.optimizer.apply(variables, clipped),
      release: () => {
        for (const g of Object.values(clipped)) g.dispose();
      },
    };
  }

  /**
   * Clips raw gradients (element-wise, then global norm) and measures their norm. The reported
   * norm (and the non-finite check) is of the raw gradients: element-wise clipping would turn an
   * infinite gradient into a finite one. Call inside a tidy.
   */
  private clip(raw: NamedTensors): { norm: tf.Scalar; clipped: NamedTensors } {
    if (this.clipGradientValue > 0) {
      const norm = globalNorm(raw);
      const byValue = clipByValue(raw, this.clipGradientValue);
      const gradients =
        this.clipNorm > 0 ? clipByGlobalNorm(byValue, this.clipNorm).gradients : byValue;
      return { norm, clipped: gradients };
    }
    if (this.clipNorm > 0) {
      const clipped = clipByGlobalNorm(raw, this.clipNorm);
      return { norm: clipped.globalNorm, clipped: clipped.gradients };
    }
    return { norm: globalNorm(raw), clipped: raw };
  }

  /**
   * Loss and gradient norm of `batch` computed over {@link TrainerOptions.workers} threads
   * (started on first use), and the update from the clipped flat sum. A failing thread closes
   * them all (the next step starts new ones) and fails the step with its error.
   */
  private threadedGradients(
    batch: SequenceBatch,
    variables: Record<string, tf.Variable>,
  ): StepGradients {
    let result: ReturnType<TrainingThreads['lossAndGradients']>;
    if (!this.threads?.ready && !currentThreadEnvironment().node) {
      throw new MannError(
        `workers: ${this.workers} in a browser: call await trainer.startThreads() before trainStep${this.threads ? ' (the threads are still starting)' : this.threadsFailed ? ' (the threads stopped after a failure; start them again)' : ''}: a thread cannot finish starting while this one blocks on it`,
      );
    }
    try {
      this.threads ??= this.newThreads(batch);
      if (!this.threads.ready) this.threads.startBlocking();
      result = this.threads.lossAndGradients(batch);
    } catch (error) {
      this.threadsFailed = true;
      void this.close();
      throw error;
    }
    // Clipped here on the flat sum (a few loops), and handed to the optimizer as arrays, not by
    // TF.js ops on tensors of each parameter's gradient: this part runs on this thread alone
    // while the others wait, so it bounds the speed-up.
    const norm = clipFlatGradients(
      result.gradients,
      this.clipGradientValue,
      this.clipNorm,
      result.sumOfSquares,
    );
    const gradients: Record<string, Float32Array> = {};
    let offset = 0;
    for (const [name, v] of this.model.parameters.trainableEntries()) {
      gradients[name] = result.gradients.subarray(offset, offset + v.size);
      offset += v.size;
    }
    return {
      // float32, as the loss and norm tensors of one thread give them
      bits: Math.fround(result.loss),
      gradNorm: Math.fround(norm),
      update: () => this.optimizer.applyArrays(variables, gradients),
      release: () => undefined,
    };
  }

  /**
   * The training threads: all {@link TrainerOptions.workers}, or, started for `batch`, at most
   * one per chunk of it (a thread beyond those would get no chunk of it). Batches are cut for
   * `workers` either way, so the results are the same; a later, larger batch runs on the
   * threads started.
   */
  private newThreads(batch?: SequenceBatch): TrainingThreads {
    return new TrainingThreads(this.model, this.workers, {
      modules: this.workerModules,
      ...(this.workerScript !== undefined ? { script: this.workerScript } : {}),
      ...(batch ? { running: trainingThreadsFor(this.workers, batch.batchSize) } : {}),
    });
  }

  /**
   * Starts the training threads of {@link TrainerOptions.workers} and resolves once every one
   * has answered that it is ready (has imported its modules, selected the backend and rebuilt
   * the model), without blocking this thread. Required before the first step in a browser (and
   * again after a thread failure stopped them); optional in Node, where the first step starts
   * them otherwise. Does nothing with one worker or threads already started. Rejects with the
   * first failing thread's error, naming it (`training thread 2 of 2 could not start: ...`).
   */
  async startThreads(): Promise<void> {
    if (this.workers <= 1) return;
    const threads = (this.threads ??= this.newThreads());
    try {
      await threads.start();
      this.threadsFailed = false;
    } catch (error) {
      if (this.threads === threads) {
        this.threadsFailed = true;
        void this.close();
      }
      throw error;
    }
  }

  /**
   * How the steps were shared out: the chunks of batches ({@link TrainerOptions.workers}) each
   * thread running has computed, this thread's first, over the steps whose gradients they
   * computed since they started (a thread slowed down by its core computes fewer). Empty with one
   * worker or before the threads start.
   */
  get threadChunks(): readonly number[] {
    return this.threads?.chunksComputed ?? [];
  }

  /**
   * Milliseconds each thread of {@link Trainer.threadChunks} has spent computing its chunks,
   * this thread's first, over the same steps: divided by the chunk counts, the time a chunk
   * takes on each thread (a thread whose core is busy with other work takes longer). Empty
   * with one worker or before the threads start.
   */
  get threadChunkMillis(): readonly number[] {
    return this.threads?.chunkTimes ?? [];
  }

  /**
   * Stops the training threads, if any (the next step would start them again); resolves when
   * every thread has exited. {@link Trainer.dispose} calls it without waiting.
   */
  close(): Promise<void> {
    if (this.threads) {
      this.threadsExited = this.threads.close();
      this.threads = undefined;
    }
    return this.threadsExited;
  }

  /** Scores the model on `batch` without training; also returns the sigmoid outputs [B,T,O]. */
  evaluate(batch: SequenceBatch): SequenceScores & { readonly probabilities: Float32Array } {
    const probabilities = predict(this.model, batch);
    return { ...scoreSequences(probabilities, batch), probabilities };
  }

  /** Counters and optimizer state (plain arrays), for a checkpoint. */
  getState(): TrainerState {
    return {
      steps: this.steps,
      skippedSteps: this.skipped,
      consecutiveBadSteps: this.consecutiveBad,
      optimizer: this.optimizer.getState(),
    };
  }

  /** Restores counters and optimizer state from {@link Trainer.getState}. */
  setState(state: TrainerState): void {
    this.optimizer.setState(state.optimizer);
    this.steps = state.steps;
    this.skipped = state.skippedSteps;
    this.consecutiveBad = state.consecutiveBadSteps;
    this.attempts = state.steps + state.skippedSteps;
  }

  /** Frees the optimizer state (not the model) and stops the training threads. */
  dispose(): void {
    void this.close();
    this.optimizer.dispose();
  }
}

/** Sigmoid outputs of `model` on `batch`, [B, T, O] row-major. */
export function predict(model: RecurrentModel, batch: SequenceBatch): Float32Array {
  return tf.tidy(() => {
    const { inputs } = batchTensors(batch);
    return tf.sigmoid(model.run(inputs).outputs).dataSync().slice() as Float32Array;
  });
}
