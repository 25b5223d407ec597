// @ts-check
/**
 * A continuous (differentiable) neural stack, after Grefenstette et al. 2015, "Learning to
 * Transduce with Unbounded Memory", section 3.1, written as a mann plugin against the public
 * API of `@mann/core` only. Plain ESM with JSDoc types: `mann --plugin` imports it as it is.
 *
 * What it registers (see {@link register}):
 * - memory scheme `stack`, usable as `{ type: 'memory', memory: { type: 'stack', ... } }`;
 * - model `stack-rnn`: a controller with one stack, `{ type: 'stack-rnn', width, depth, ... }`;
 * - task `reverse` (./reverse-task.mjs), the task a stack is made for.
 *
 * Symbols (paper, section 3.1): at step t the controller emits a value v_t [B, m], a push
 * strength d_t in (0, 1) and a pop strength u_t in (0, 1). The stack keeps the values it was
 * given, V_t, and a strength s_t[i] in [0, 1] per value: how much of it is still on the stack.
 * The paper stores value i at row i (rows grow with t). This implementation stores them
 * newest first: row 0 holds v_t, row k the value pushed k steps ago. Then "the values above
 * row k" are the rows 0..k-1, every sum over them is an exclusive cumulative sum, and a fixed
 * number of rows (`depth`, D) bounds the memory: a value pushed D or more steps ago falls off
 * the bottom. Within D steps the reads equal the paper's exactly (the tests compare against a
 * loop-based transcription of the paper's equations).
 *
 * One addition to the paper: a learned bottom-of-stack vector b [m]. Whatever read weight the
 * stack's values leave (1 - sum of the read weights) reads b, so an empty stack reads b instead
 * of zeros and the controller can tell "empty" from "a zero vector on top".
 *
 * Two implementations of a step (option `implementation`): `composed`, the TF.js ops of this
 * file, the reference; and `fused`, one op with a hand-written gradient over typed arrays
 * (./stack-fused.mjs), built on the public kernel layer `@mann/core/fused`.
 */
import * as tf from '@tensorflow/tfjs';
import {
  DEFAULT_CLIP_VALUE,
  DEFAULT_CONTROLLER,
  buildMemoryNetwork,
  checkChoice,
  checkInteger,
  checkNumber,
  checkShape,
  registerMemory,
  registerModel,
  repeatBatch,
  resolveControllerConfig,
  tidy,
  withDefaults,
} from '@mann/core';
import { registerReverseTask } from './reverse-task.mjs';
import { createFusedStackStep } from './stack-fused.mjs';

/**
 * @typedef {import('@mann/core').MemoryAccess<StackState>} StackAccess
 * @typedef {import('@mann/core').MemoryDefinition<StackConfig>} StackMemoryDefinition
 * @typedef {import('@mann/core').ModelDefinition<StackRnnConfig>} StackRnnDefinition
 * @typedef {import('@mann/core').ControllerConfig} ControllerConfig
 * @typedef {import('@mann/core').ParameterScope} ParameterScope
 * @typedef {import('@mann/core').StepOptions} StepOptions
 * @typedef {import('@mann/core').StepTrace} StepTrace
 */

/**
 * Options of the stack memory (what `{ type: 'stack', ... }` accepts).
 * @typedef {object} StackConfig
 * @property {number} width m, the width of a stack value. Default {@link DEFAULT_STACK_WIDTH}.
 * @property {number} depth D, the rows kept: values pushed D or more steps ago are forgotten.
 *   Set it to at least the number of steps a value must survive (for reversing L vectors: L + 1).
 *   Default {@link DEFAULT_STACK_DEPTH}.
 * @property {StackImplementation} implementation How a step is computed; both give the same
 *   values and gradients (tested to 1e-5). `composed`: the TF.js ops of this file, the
 *   reference. `fused`: one op with a hand-written forward and backward pass over typed arrays
 *   (./stack-fused.mjs). Default {@link DEFAULT_STACK_IMPLEMENTATION}.
 */

/**
 * One of {@link STACK_IMPLEMENTATIONS}.
 * @typedef {'fused' | 'composed'} StackImplementation
 */

/**
 * State of the stack, newest row first.
 * @typedef {object} StackState
 * @property {tf.Tensor3D} values V_t, [B, D, m]: row k holds the value pushed k steps ago.
 * @property {tf.Tensor2D} strengths s_t, [B, D]: how much of row k is still on the stack.
 */

/**
 * What the controller asks of the stack at one step, already squashed to their ranges.
 * @typedef {object} StackControls
 * @property {tf.Tensor2D} value v_t, [B, m].
 * @property {tf.Tensor2D} push d_t, [B, 1], in [0, 1].
 * @property {tf.Tensor2D} pop u_t, [B, 1], in [0, 1].
 */

/** Default width m of a stack value. */
export const DEFAULT_STACK_WIDTH = 8;
/** Default depth D (rows kept). */
export const DEFAULT_STACK_DEPTH = 32;
/** The implementations of a stack step: see {@link StackConfig}. */
export const STACK_IMPLEMENTATIONS = /** @type {const} */ (['fused', 'composed']);
/**
 * The composed reference: the fused step agrees with it to float32 rounding, not bit for bit,
 * and the example's documented numbers come from it.
 * @type {StackImplementation}
 */
export const DEFAULT_STACK_IMPLEMENTATION = 'composed';

/**
 * Defaults of {@link StackConfig}.
 * @type {Readonly<StackConfig>}
 */
export const DEFAULT_STACK_CONFIG = Object.freeze({
  width: DEFAULT_STACK_WIDTH,
  depth: DEFAULT_STACK_DEPTH,
  implementation: DEFAULT_STACK_IMPLEMENTATION,
});

/**
 * Fills the defaults of a stack config and validates it; unknown keys throw with the valid ones.
 * @param {Partial<StackConfig>} [given]
 * @returns {StackConfig}
 */
export function resolveStackConfig(given = {}) {
  const config = withDefaults('stack memory config', { ...DEFAULT_STACK_CONFIG }, given);
  checkInteger('width', config.width, 1);
  checkInteger('depth', config.depth, 1);
  checkChoice('implementation', config.implementation, STACK_IMPLEMENTATIONS);
  return config;
}

/**
 * For each row k, the total strength of the rows above it (newer): sum over j < k of s[j].
 * @param {tf.Tensor2D} strengths s, [B, D]
 * @returns {tf.Tensor2D} [B, D]
 */
export function strengthAbove(strengths) {
  return tf.cumsum(strengths, 1, true);
}

/**
 * The pop of the paper's equation (2): u_t is taken off the top, row by row, from the newest
 * down; s'[k] = relu(s[k] - relu(u - sum_{j<k} s[j])).
 * @param {tf.Tensor2D} strengths s_{t-1}, [B, D]
 * @param {tf.Tensor2D} pop u_t, [B, 1]
 * @returns {tf.Tensor2D} [B, D]
 */
export function popStrengths(strengths, pop) {
  return tf.relu(tf.sub(strengths, tf.relu(tf.sub(pop, strengthAbove(strengths)))));
}

/**
 * The read weights of the paper's equation (3): from the top down, each row gives what it has
 * until a total of 1 is read; w[k] = min(s[k], relu(1 - sum_{j<k} s[j])). They sum to <= 1.
 * @param {tf.Tensor2D} strengths s_t, [B, D]
 * @returns {tf.Tensor2D} [B, D]
 */
export function readWeights(strengths) {
  return tf.minimum(strengths, tf.relu(tf.sub(1, strengthAbove(strengths))));
}

/**
 * One step of the neural stack: pop u_t, then push v_t with strength d_t, then read the top.
 * Pure: returns new tensors and never touches `state`. relu and min have kinks where the
 * gradient is one-sided; the paper trains through them as they are.
 *
 * @param {StackState} state V_{t-1} [B, D, m], s_{t-1} [B, D]
 * @param {StackControls} controls v_t [B, m], d_t [B, 1], u_t [B, 1]
 * @returns {{ state: StackState, weights: tf.Tensor2D, read: tf.Tensor2D }} the next state,
 *   the read weights [B, D] and the read r_t = sum_k w[k] V_t[k], [B, m] (without the bottom).
 */
export function neuralStackStep(state, controls) {
  const [batch, depth, width] = state.values.shape;
  checkShape('strengths', state.strengths, [batch, depth], '[B, D]');
  checkShape('value', controls.value, [batch, width], '[B, m]');
  checkShape('push', controls.push, [batch, 1], '[B, 1]');
  checkShape('pop', controls.pop, [batch, 1], '[B, 1]');
  return tidy(() => {
    const popped = popStrengths(state.strengths, controls.pop);
    // Push: the new value becomes row 0; every row moves down one; row D - 1 falls off.
    const below = tf.slice(state.values, [0, 0, 0], [batch, depth - 1, width]);
    const values = /** @type {tf.Tensor3D} */ (
      tf.concat([tf.expandDims(controls.value, 1), below], 1)
    );
    const strengths = /** @type {tf.Tensor2D} */ (
      tf.concat([controls.push, tf.slice(popped, [0, 0], [batch, depth - 1])], 1)
    );
    const weights = readWeights(strengths);
    const read = /** @type {tf.Tensor2D} */ (
      tf.squeeze(tf.matMul(tf.expandDims(weights, 1), values), [1])
    );
    return { state: { values, strengths }, weights, read };
  });
}

/**
 * The stack as a mann memory: the controller's interface vector is split into the value
 * (tanh), the push strength (sigmoid) and the pop strength (sigmoid). Parameters (under the
 * memory's scope): `bottom` [m], the learned bottom-of-stack vector b.
 *
 * Traces (per step, when asked): `readWeights` [B, 1, D], `strengths` [B, D], `push` [B, 1],
 * `pop` [B, 1].
 *
 * @implements {StackAccess}
 */
export class StackMemory {
  /**
   * @param {StackConfig} config
   * @param {ParameterScope} scope where the memory's parameters are created
   */
  constructor(config, scope) {
    /** @readonly */
    this.config = resolveStackConfig(config);
    const { width } = this.config;
    /** m + 2: the value, then the push and pop logits. @readonly */
    this.interfaceSize = width + 2;
    /** m: one read of the top. @readonly */
    this.readSize = width;
    /** b, [m]. @readonly */
    this.bottom = scope.create('bottom', [width], { kind: 'uniform', low: -0.1, high: 0.1 });
    /** The fused step, when `implementation` is `fused`. @private @readonly */
    this.fusedStep =
      this.config.implementation === 'fused' ? createFusedStackStep(this.config) : undefined;
  }

  /**
   * An empty stack: zero values, zero strengths.
   * @param {number} batchSize
   * @returns {StackState}
   */
  initialState(batchSize) {
    const { depth, width } = this.config;
    return {
      values: tf.zeros([batchSize, depth, width]),
      strengths: tf.zeros([batchSize, depth]),
    };
  }

  /**
   * The read of an empty stack: the bottom vector b for every sequence, [B, m].
   * @param {number} batchSize
   * @returns {tf.Tensor2D}
   */
  initialReads(batchSize) {
    // the same values as tf.tile; its gradient is one sum, not two kernels per sequence
    return repeatBatch(this.bottom, batchSize);
  }

  /**
   * @param {tf.Tensor2D} interfaceVector [B, m + 2]
   * @param {StackState} state
   * @param {StepOptions} [options]
   * @returns {{ reads: tf.Tensor2D, state: StackState, trace?: StepTrace }}
   */
  step(interfaceVector, state, options = {}) {
    const { width } = this.config;
    checkShape('interfaceVector', interfaceVector, [null, this.interfaceSize], '[B, m + 2]');
    if (this.fusedStep) return this.stepFused(this.fusedStep, interfaceVector, state, options);
    return tidy(() => {
      const batch = interfaceVector.shape[0];
      const controls = {
        value: tf.tanh(tf.slice(interfaceVector, [0, 0], [batch, width])),
        push: tf.sigmoid(tf.slice(interfaceVector, [0, width], [batch, 1])),
        pop: tf.sigmoid(tf.slice(interfaceVector, [0, width + 1], [batch, 1])),
      };
      const next = neuralStackStep(state, controls);
      // Whatever weight the values leave reads the bottom vector.
      const rest = tf.relu(tf.sub(1, tf.sum(next.weights, 1, true)));
      const reads = /** @type {tf.Tensor2D} */ (
        tf.add(next.read, tf.mul(rest, tf.expandDims(this.bottom, 0)))
      );
      /** @type {{ reads: tf.Tensor2D, state: StackState, trace?: StepTrace }} */
      const result = { reads, state: next.state };
      if (options.trace) {
        result.trace = {
          readWeights: tf.expandDims(next.weights, 1),
          strengths: next.state.strengths,
          push: controls.push,
          pop: controls.pop,
        };
      }
      return result;
    });
  }

  /**
   * The same step as one fused op (./stack-fused.mjs), whose outputs are the reads, the next
   * state and the traces.
   * @private
   * @param {import('./stack-fused.mjs').FusedStackStep} fusedStep
   * @param {tf.Tensor2D} interfaceVector [B, m + 2]
   * @param {StackState} state
   * @param {StepOptions} options
   * @returns {{ reads: tf.Tensor2D, state: StackState, trace?: StepTrace }}
   */
  stepFused(fusedStep, interfaceVector, state, options) {
    const { width, depth } = this.config;
    const batch = interfaceVector.shape[0];
    checkShape('values', state.values, [batch, depth, width], '[B, D, m]');
    checkShape('strengths', state.strengths, [batch, depth], '[B, D]');
    return tidy(() => {
      const out = fusedStep(interfaceVector, state.values, state.strengths, this.bottom);
      /** @type {{ reads: tf.Tensor2D, state: StackState, trace?: StepTrace }} */
      const result = { reads: out.reads, state: { values: out.values, strengths: out.strengths } };
      if (options.trace) {
        result.trace = {
          readWeights: tf.expandDims(out.weights, 1),
          strengths: out.strengths,
          push: tf.slice(out.strengths, [0, 0], [batch, 1]), // s_t[0] = d_t
          pop: out.pop,
        };
      }
      return result;
    });
  }
}

/** @type {StackMemoryDefinition} */
export const stackMemoryDefinition = {
  type: 'stack',
  description: 'differentiable stack (Grefenstette et al. 2015): push, pop and read the top',
  resolveConfig: (given) => resolveStackConfig(given),
  create: (config, scope) => new StackMemory(config, scope),
};

/**
 * Configuration of the `stack-rnn` model: a controller and a {@link StackConfig}.
 * @typedef {import('@mann/core').ModelConfig & StackConfig & {
 *   readonly type: 'stack-rnn',
 *   readonly controller: ControllerConfig,
 *   readonly clipValue: number,
 * }} StackRnnConfig
 */

/** @type {StackRnnDefinition} */
export const stackRnnDefinition = {
  type: 'stack-rnn',
  description:
    'a controller with a differentiable stack (Grefenstette et al. 2015; plugin example)',
  resolveConfig(given) {
    const { controller, clipValue, ...memory } = withDefaults(
      'stack-rnn config',
      {
        type: /** @type {const} */ ('stack-rnn'),
        inputSize: given.inputSize,
        outputSize: given.outputSize,
        controller: DEFAULT_CONTROLLER,
        clipValue: DEFAULT_CLIP_VALUE,
        ...DEFAULT_STACK_CONFIG,
      },
      given,
    );
    const { type, inputSize, outputSize, ...stack } = memory;
    return {
      type,
      inputSize,
      outputSize,
      controller: resolveControllerConfig(controller),
      clipValue: checkNumber('clipValue', clipValue, 0),
      ...resolveStackConfig(stack),
    };
  },
  create(config, rng) {
    const { width, depth, implementation } = config;
    const stack = { width, depth, implementation };
    return buildMemoryNetwork(
      config,
      config.controller,
      config.clipValue,
      rng,
      (scope) => new StackMemory(stack, scope),
    );
  },
};

/**
 * Registers the memory scheme `stack`, the model `stack-rnn` and the task `reverse`.
 * Safe to call more than once. `mann --plugin <this file>` calls it.
 */
export function register() {
  registerMemory(stackMemoryDefinition);
  registerModel(stackRnnDefinition);
  registerReverseTask();
}
