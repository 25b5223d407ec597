import type * as tf from '@tensorflow/tfjs';
import type { SequenceBatch } from './data.js';
import type { ParameterStore } from './params.js';

/**
 * A recurrent state: tensors in named, nested, readonly records (never positional tuples).
 * A step returns the same structure it was given, with new tensors.
 */
export type TensorTree = tf.Tensor | readonly TensorTree[] | { readonly [key: string]: TensorTree };

/**
 * What one step of a memory did, for visualisation and analysis: named tensors, batch first,
 * for example `readWeights` [B, R, N], `writeWeights` [B, Hw, N], gates [B, H]. The keys each
 * scheme emits are listed in its documentation.
 */
export type StepTrace = Readonly<Record<string, tf.Tensor>>;

/**
 * A controller network: maps the step input `[x_t ; r_{t-1}]` and its state to an output h_t.
 */
export interface Controller<S = unknown> {
  /** Width of the input, [B, inputSize]. */
  readonly inputSize: number;
  /** Width of the output h_t, [B, outputSize]. */
  readonly outputSize: number;
  /** The state at t = 0 for a batch of `batchSize`. */
  initialState(batchSize: number): S;
  /** One time step: input [B, inputSize] -> output [B, outputSize] and the next state. */
  step(input: tf.Tensor2D, state: S): { readonly output: tf.Tensor2D; readonly state: S };
}

/** Options of a single step. */
export interface StepOptions {
  /** Also return a {@link StepTrace} of what the memory did (default false). */
  readonly trace?: boolean;
}

/**
 * An external memory and its heads (the NTM's heads, the DNC's memory access module, or a
 * scheme of your own). The controller feeds it through one linear layer: the interface vector.
 */
export interface MemoryAccess<S = unknown> {
  /** Width of the interface vector this memory consumes each step. */
  readonly interfaceSize: number;
  /** Width of all read vectors concatenated (R * W for R heads of width W). */
  readonly readSize: number;
  /** Memory state at t = 0 (memory, weightings, usage, ...). */
  initialState(batchSize: number): S;
  /** Read vectors r_0 fed to the controller at the first step, [B, readSize]. */
  initialReads(batchSize: number): tf.Tensor2D;
  /**
   * One step: consumes the interface vector [B, interfaceSize], returns the read vectors
   * [B, readSize] and the next state, plus a trace when asked.
   */
  step(
    interfaceVector: tf.Tensor2D,
    state: S,
    options?: StepOptions,
  ): { readonly reads: tf.Tensor2D; readonly state: S; readonly trace?: StepTrace };
}

/** A JSON-serialisable model configuration; `type` names a registered model. */
export interface ModelConfig {
  /** Registered model type, e.g. `lstm`, `ntm`, `dnc`. */
  readonly type: string;
  /** Input channels per step. */
  readonly inputSize: number;
  /** Output channels per step (logits; the tasks apply a sigmoid). */
  readonly outputSize: number;
  readonly [key: string]: unknown;
}

/** Result of one model step. */
export interface ModelStepResult<S = unknown> {
  /** Output logits y_t, [B, outputSize]. */
  readonly output: tf.Tensor2D;
  readonly state: S;
  readonly trace?: StepTrace;
}

/** Options of {@link RecurrentModel.run}. */
export interface RunOptions<S = unknown> {
  /** Start from this state instead of `initialState(B)`. */
  readonly initialState?: S;
  /** Collect the per-step traces, stacked over time as [B, T, ...] (default false). */
  readonly trace?: boolean;
}

/** Result of {@link RecurrentModel.run}. */
export interface RunResult {
  /** Output logits for every step, [B, T, outputSize]. */
  readonly outputs: tf.Tensor3D;
  /** Per-step traces stacked over time, each [B, T, ...], when asked for. */
  readonly traces?: Readonly<Record<string, tf.Tensor>>;
}

/**
 * A recurrent sequence model: the LSTM baseline, the NTM, the DNC, or a plugin's model.
 * Models never mutate a state they were given; `step` and `run` are pure functions of the
 * parameters and their arguments (so they can run inside `tf.tidy` and `tf.variableGrads`).
 */
export interface RecurrentModel<S = unknown> {
  /** The full, resolved configuration (enough to rebuild the model with `createModel`). */
  readonly config: ModelConfig;
  readonly inputSize: number;
  readonly outputSize: number;
  /** The trainable parameters, by stable name. */
  readonly parameters: ParameterStore;
  initialState(batchSize: number): S;
  /** One step: input [B, inputSize] -> logits [B, outputSize]. */
  step(input: tf.Tensor2D, state: S, options?: StepOptions): ModelStepResult<S>;
  /** A whole sequence: inputs [B, T, inputSize] -> logits [B, T, outputSize]. */
  run(inputs: tf.Tensor3D, options?: RunOptions<S>): RunResult;
  /**
   * Optional, for the training threads: the loss of a plain `run` on `batch` (masked bits per
   * sequence, averaged over it) and its gradient, computed on plain arrays without TF.js, from
   * the parameter values `parameters` (flat, in `parameters.entries()` order; the variables are
   * neither read nor changed), the gradient written into `gradients` (flat, in
   * `trainableEntries()` order). Agrees with TF.js's computation of the same to float32
   * rounding. Undefined, with nothing written, when this model's configuration has none.
   */
  lossAndGradientsOnArrays?(
    batch: SequenceBatch,
    parameters: Float32Array,
    gradients: Float32Array,
  ): number | undefined;
  /** Frees the parameters. */
  dispose(): void;
}

/** Parameter values and gradients by variable, for training on arrays. */
export interface ParameterArrays {
  /** The values of a parameter of the model. They are shared: read them, never write. */
  value(variable: tf.Variable): Float32Array;
  /**
   * Adds `gradient` (as many values as the parameter) to dL/d(variable); ignored for a
   * parameter that is not trainable.
   */
  addGradient(variable: tf.Variable, gradient: Float32Array): void;
}
