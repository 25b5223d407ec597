/**
 * Messages between the playground page and its training worker, and the settings a person can
 * choose. Pure data: both sides import it, and the worker validates what it receives.
 */

/** Models the playground can train. */
export const MODELS = ['ntm', 'dnc', 'dnc-md', 'lstm'] as const;
export type ModelChoice = (typeof MODELS)[number];

/** Tasks the playground can train on. */
export const TASKS = ['copy', 'repeat-copy', 'associative-recall', 'priority-sort'] as const;
export type TaskChoice = (typeof TASKS)[number];

/** What a person sets before pressing train. */
export interface PlaygroundSettings {
  readonly model: ModelChoice;
  readonly task: TaskChoice;
  /** Memory slots N (NTM, DNC). */
  readonly memorySlots: number;
  /** Word width W (NTM, DNC). */
  readonly memoryWidth: number;
  /** Hidden units of the controller (or of the LSTM baseline). */
  readonly hiddenSize: number;
  /** Sequences per training step. */
  readonly batchSize: number;
  /** Adam learning rate. */
  readonly learningRate: number;
  /** Longest training sequence (copy and repeat copy: vectors; recall: items). */
  readonly difficulty: number;
  /** Seed of the parameters and of the data. */
  readonly seed: number;
  /**
   * Threads that share each training step (`TrainerOptions.workers` of @mann/core): the
   * training worker and `threads - 1` training threads (src/training-thread.ts). More than 1
   * needs a cross-origin isolated page.
   */
  readonly threads: number;
}

export const DEFAULT_SETTINGS: PlaygroundSettings = {
  model: 'dnc',
  task: 'copy',
  memorySlots: 32,
  memoryWidth: 16,
  hiddenSize: 64,
  batchSize: 16,
  learningRate: 5e-3,
  difficulty: 6,
  seed: 1,
  threads: 1,
};

/** Accepted range of every numeric setting, inclusive. */
export const SETTING_RANGES: Readonly<
  Record<Exclude<keyof PlaygroundSettings, 'model' | 'task'>, readonly [number, number]>
> = {
  memorySlots: [4, 256],
  memoryWidth: [2, 64],
  hiddenSize: [4, 512],
  batchSize: [1, 64],
  learningRate: [1e-5, 0.1],
  difficulty: [1, 20],
  seed: [0, 2 ** 31 - 1],
  threads: [1, 2],
};

/**
 * Checks settings from the page or a URL, naming the field and the value that is wrong.
 *
 * @throws Error `settings.memorySlots must be an integer in [4, 256], got 1000`.
 */
export function checkSettings(
  value: Partial<Record<keyof PlaygroundSettings, unknown>>,
): PlaygroundSettings {
  const merged = { ...DEFAULT_SETTINGS, ...value } as Record<string, unknown>;
  for (const key of Object.keys(merged)) {
    if (!(key in DEFAULT_SETTINGS)) throw new Error(`settings.${key} is not a setting`);
  }
  if (!MODELS.includes(merged.model as ModelChoice)) {
    throw new Error(
      `settings.model must be one of ${MODELS.join(', ')}, got ${String(merged.model)}`,
    );
  }
  if (!TASKS.includes(merged.task as TaskChoice)) {
    throw new Error(`settings.task must be one of ${TASKS.join(', ')}, got ${String(merged.task)}`);
  }
  for (const [key, [low, high]] of Object.entries(SETTING_RANGES)) {
    const v = merged[key];
    const integer = key !== 'learningRate';
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= low && v <= high;
    if (!ok || (integer && !Number.isInteger(v))) {
      throw new Error(
        `settings.${key} must be ${integer ? 'an integer' : 'a number'} in [${low}, ${high}], got ${String(v)}`,
      );
    }
  }
  return merged as unknown as PlaygroundSettings;
}

/** A [rows][columns] matrix of numbers, as heatmaps draw it (rows = time steps). */
export type Matrix = number[][];

/** A sample sequence and the model's memory at work on it. */
export interface SampleView {
  /** [T][input channels] */
  readonly inputs: Matrix;
  /** [T][output channels], answer steps only (others zero). */
  readonly targets: Matrix;
  /** [T][output channels], sigmoid outputs. */
  readonly outputs: Matrix;
  /** Answer-step mask, [T]. */
  readonly mask: number[];
  /** Traces over time, [T][slots]: read and write weightings of head 0, usage (DNC). */
  readonly traces: Readonly<Record<string, Matrix>>;
  /** The temporal link matrix after the last step, [N][N] (DNC only). */
  readonly link?: Matrix;
}

/** Page -> worker. */
export type ToWorker =
  | { readonly type: 'train'; readonly settings: PlaygroundSettings }
  | { readonly type: 'stop' }
  /** Save the current model and its trainer as a mann checkpoint (what `mann eval` reads). */
  | { readonly type: 'save' }
  /** Load a mann checkpoint (from `mann train`, `mann bench` or this page) and show it at work. */
  | { readonly type: 'load'; readonly bytes: ArrayBuffer; readonly name: string }
  /** Load a model exported by `mann export`: its model.json text and its weights.bin bytes. */
  | { readonly type: 'loadLayers'; readonly modelJson: string; readonly weights: ArrayBuffer };

/** One point of the learning curve. */
export interface CurvePoint {
  /** Sequences trained on so far. */
  readonly sequences: number;
  /** Training cost of the last batch, bits per sequence. */
  readonly bitsPerSequence: number;
  /** Bit errors per sequence on a fresh evaluation batch. */
  readonly bitErrorsPerSequence: number;
}

/** Worker -> page. */
export type FromWorker =
  | { readonly type: 'ready'; readonly backend: string }
  | { readonly type: 'started'; readonly parameters: number; readonly description: string }
  | { readonly type: 'progress'; readonly point: CurvePoint; readonly sequencesPerSecond: number }
  | { readonly type: 'sample'; readonly sample: SampleView; readonly sequences: number }
  | { readonly type: 'stopped'; readonly sequences: number }
  | { readonly type: 'saved'; readonly bytes: ArrayBuffer; readonly name: string }
  | {
      readonly type: 'loaded';
      readonly description: string;
      readonly bitErrorsPerSequence: number;
      readonly bitsPerSequence: number;
    }
  | { readonly type: 'error'; readonly message: string };
