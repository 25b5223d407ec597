import type { SequenceBatch } from '../data.js';
import type { RecurrentModel } from '../interfaces.js';
import { Rng, type RngState } from '../random.js';
import { checkInteger, MannError } from '../errors.js';
import {
  Trainer,
  type ThreadOptions,
  type TrainerOptions,
  type TrainStepResult,
} from './trainer.js';
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from './checkpoint.js';

/** Draws a training batch from `rng` (advancing it). */
export type BatchSource = (rng: Rng, batchSize: number) => SequenceBatch;

/** Options of a new {@link TrainingSession}. */
export interface TrainingSessionOptions {
  readonly model: RecurrentModel;
  readonly trainer?: Trainer;
  /** Used when `trainer` is not given. */
  readonly trainerOptions?: TrainerOptions;
  readonly sample: BatchSource;
  readonly batchSize: number;
  /** Seed of the data stream (default 0). */
  readonly dataSeed?: number;
}

/**
 * A model, its trainer and the seeded data stream it learns from. A checkpoint of a session
 * stores all three (parameters, optimizer state, step counters, data RNG position), so
 * {@link TrainingSession.resume} continues exactly as the uninterrupted run would have.
 */
export class TrainingSession {
  readonly model: RecurrentModel;
  readonly trainer: Trainer;
  readonly sample: BatchSource;
  readonly batchSize: number;
  private dataRng: Rng;

  constructor(options: TrainingSessionOptions, dataRng?: Rng) {
    this.model = options.model;
    this.trainer = options.trainer ?? new Trainer(options.model, options.trainerOptions);
    this.sample = options.sample;
    this.batchSize = checkInteger('batchSize', options.batchSize, 1);
    this.dataRng = dataRng ?? new Rng(options.dataSeed ?? 0);
  }

  /** Updates applied so far. */
  get step(): number {
    return this.trainer.step;
  }

  /** Position of the data stream. */
  get dataRngState(): RngState {
    return this.dataRng.getState();
  }

  /** Draws the next batch and trains on it. */
  trainStep(): TrainStepResult {
    return this.trainer.trainStep(this.sample(this.dataRng, this.batchSize));
  }

  /** Trains until `step` updates have been applied (skipped steps do not count). */
  trainUntil(step: number, onStep?: (result: TrainStepResult) => void): void {
    checkInteger('step', step, 0);
    while (this.trainer.step < step) {
      // not `onStep?.(this.trainStep())`: optional chaining would skip the step with no callback
      const result = this.trainStep();
      onStep?.(result);
    }
  }

  /** Writes a checkpoint of the session (atomically) with optional extra metadata. */
  async save(path: string, metadata: Record<string, unknown> = {}): Promise<void> {
    await saveCheckpoint(path, {
      model: this.model,
      trainer: this.trainer,
      metadata: {
        ...metadata,
        session: { dataRng: this.dataRng.getState(), batchSize: this.batchSize },
      },
    });
  }

  /**
   * Rebuilds a session from a checkpoint written by {@link TrainingSession.save}; `sample` must
   * be the same batch source. `threads` sets {@link TrainerOptions.workers} (and its modules)
   * of the restored trainer: the same count as before continues bitwise. Returns the caller's
   * metadata too.
   */
  static async resume(
    path: string,
    sample: BatchSource,
    threads: ThreadOptions = {},
  ): Promise<{ session: TrainingSession; metadata: Record<string, unknown> }> {
    const checkpoint = await loadCheckpoint(path);
    const saved = checkpoint.metadata.session as
      { dataRng?: RngState; batchSize?: number } | undefined;
    if (!saved?.dataRng || !saved.batchSize) {
      throw new MannError(
        `checkpoint ${path} has no training session state (was it saved by TrainingSession.save?)`,
      );
    }
    const { model, trainer } = restoreCheckpoint(checkpoint, threads);
    if (!trainer) {
      model.dispose();
      throw new MannError(`checkpoint ${path} has no trainer state`);
    }
    const session = new TrainingSession(
      { model, trainer, sample, batchSize: saved.batchSize },
      Rng.fromState(saved.dataRng),
    );
    const { session: _session, ...metadata } = checkpoint.metadata;
    return { session, metadata };
  }

  /** Frees the model and the optimizer state, and stops the trainer's threads. */
  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
  }
}
