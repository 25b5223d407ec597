/**
 * The data a report is built from: everything comes from the results database
 * (see ../store.ts), so `mann report` can rebuild a report at any time.
 */

/** One training run: one model on one task with one seed. */
export interface RunRecord {
  readonly id: string;
  /** Suite the run belongs to (`quick`, `paper`, or a config file's name). */
  readonly suite: string;
  /** Model label as the suite names it (e.g. `ntm`, `dnc`, `lstm`). */
  readonly modelLabel: string;
  /** Registered model type. */
  readonly modelType: string;
  readonly task: string;
  readonly seed: number;
  readonly status: 'pending' | 'running' | 'done' | 'failed';
  /** Trainable parameters. */
  readonly parameters: number;
  /** Sequence budget of the run. */
  readonly sequenceBudget: number;
  /** Sequences trained on so far. */
  readonly sequences: number;
  readonly steps: number;
  /** Training wall time, milliseconds (summed over resumptions). */
  readonly wallMs: number;
  /** Backend the run trained on. */
  readonly backend: string;
  /** Error message of a failed run. */
  readonly error?: string;
  /**
   * When a run with a stop condition (`training.stopAt`) met it and stopped: sequences seen
   * and training wall time (ms) at that evaluation. Absent when the run trained its budget.
   */
  readonly converged?: { readonly sequences: number; readonly wallMs: number };
  /** Full spec (model config, task params, training options) as JSON. */
  readonly spec: unknown;
}

/** A point of a learning curve. */
export interface CurvePoint {
  readonly runId: string;
  /** `train`: the training batch's loss; `eval`: the fixed evaluation set. */
  readonly kind: 'train' | 'eval';
  readonly step: number;
  /** Sequences seen when the point was taken (x axis of learning curves). */
  readonly sequences: number;
  readonly bitsPerSequence: number;
  readonly bitErrorsPerSequence: number;
  readonly wallMs: number;
}

/** Final evaluation of a run on one evaluation set. */
export interface EvaluationRecord {
  readonly runId: string;
  /** `train` (the training distribution) or a generalisation variant name (`length-50`). */
  readonly set: string;
  /** Numeric difficulty of the set for generalisation curves (e.g. the sequence length), if any. */
  readonly x: number | null;
  readonly bitsPerSequence: number;
  readonly bitErrorsPerSequence: number;
  readonly sequenceAccuracy: number;
  /**
   * Further scores: `bitErrorRate` (fraction of judged bits wrong) and the task's own
   * (`gapToOptimal`, `answerStepAccuracy`, ...). Absent in databases written before mann 0.4.
   */
  readonly scores?: Readonly<Record<string, number>>;
}

/**
 * What a model did on one sample, for memory pictures like the NTM paper's figures.
 * Matrices are [time][channel or slot]; one head per picture row is enough (head 0).
 */
export interface MemoryPicture {
  readonly runId: string;
  readonly modelLabel: string;
  readonly task: string;
  /** [T][input channels] */
  readonly inputs: number[][];
  /** [T][output channels] */
  readonly targets: number[][];
  /** Sigmoid outputs, [T][output channels] */
  readonly outputs: number[][];
  /** [T] 1 on answer steps */
  readonly mask: number[];
  /**
   * Named [T][slots] matrices: `readWeights` and `writeWeights` (head 0) for every memory model,
   * `usage` for the DNC; absent for the LSTM.
   */
  readonly traces: Readonly<Record<string, number[][]>>;
}

/** Everything one report shows. */
export interface ReportData {
  readonly title: string;
  readonly generatedAt: string;
  /** e.g. `wasm`. */
  readonly backend: string;
  /** e.g. `2 x Intel(R) Xeon(R) ..., Node v20.20.2`. */
  readonly machine: string;
  readonly runs: readonly RunRecord[];
  readonly curves: readonly CurvePoint[];
  readonly evaluations: readonly EvaluationRecord[];
  readonly pictures: readonly MemoryPicture[];
  /** Run id -> machine that ran it, for runs that went through a queue (`mann bench --queue`). */
  readonly hosts?: Readonly<Record<string, string>>;
}

/** Convergence threshold: bit errors per sequence on the evaluation set (Collier & Beel). */
export const CONVERGENCE_BIT_ERRORS = 0.1;
