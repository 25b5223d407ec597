import * as tf from '@tensorflow/tfjs';
import {
  buildMemoryNetwork,
  checkShape,
  createModel,
  LstmController,
  MannError,
  registerModel,
  runSteps,
  tidy,
} from '@mann/core';
import type {
  CreateModelOptions,
  MemoryDefinition,
  MemoryNetwork,
  MemoryNetworkState,
  ModelDefinition,
  ModelStepResult,
  ParameterStore,
  RecurrentModel,
  RunOptions,
  RunResult,
  StepOptions,
} from '@mann/core';
import { memoryConfigOf, resolveDncConfig, resolveDncMemoryConfig } from './config.js';
import type { DncConfig, DncMemoryConfig, DncOptions } from './config.js';
import { DncMemory, type DncState } from './memory.js';
import { fusedSequence } from './fused/sequence-op.js';

/** State of a {@link DncModel}: the controller's, the memory's and the last read vectors. */
export type DncModelState = MemoryNetworkState<unknown, DncState>;

/**
 * A DNC: core's `MemoryNetwork` (controller, interface layer, output layer) with a
 * {@link DncMemory}, plus deepmind/dnc's clipping of the output logits.
 * `h_t = controller([x_t ; r_{t-1}])`, `xi_t = W_xi clip(h_t)`, `r_t` from the memory,
 * `y_t = clip(W_y [clip(h_t) ; r_t])`. Parameters: `controller/...`, `interface/{kernel,bias}`,
 * `output/{kernel,bias}` (the memory has none).
 */
export class DncModel implements RecurrentModel<DncModelState> {
  readonly inputSize: number;
  readonly outputSize: number;

  constructor(
    readonly config: DncConfig,
    /** The wiring of controller and memory, from core's `buildMemoryNetwork`. */
    readonly network: MemoryNetwork,
    readonly memory: DncMemory,
  ) {
    this.inputSize = config.inputSize;
    this.outputSize = config.outputSize;
  }

  get parameters(): ParameterStore {
    return this.network.parameters;
  }

  initialState(batchSize: number): DncModelState {
    return this.network.initialState(batchSize) as DncModelState;
  }

  step(
    input: tf.Tensor2D,
    state: DncModelState,
    options: StepOptions = {},
  ): ModelStepResult<DncModelState> {
    const result = this.network.step(input, state, options) as ModelStepResult<DncModelState>;
    const limit = this.config.outputClipValue;
    if (limit === 0) return result;
    const output = tf.clipByValue(result.output, -limit, limit) as tf.Tensor2D;
    result.output.dispose();
    return { ...result, output };
  }

  /**
   * A whole sequence. With the fused memory step and a one-layer LSTM controller (the
   * default), and no traces asked for, the controller and the memory run as one op over all
   * steps (`fusedSequence`): the same values and gradients as stepping, in ~4 kernels a step
   * instead of ~90. Otherwise {@link DncModel.step} is applied step by step.
   */
  run(inputs: tf.Tensor3D, options: RunOptions<DncModelState> = {}): RunResult {
    checkShape('inputs', inputs, [null, null, this.inputSize], '[B, T, inputSize]', 'float32');
    if (this.sequenceSupported && !options.trace) return this.runSequence(inputs, options);
    return runSteps(
      (x, s, o) => this.step(x, s, o),
      (b) => this.initialState(b),
      inputs,
      this.inputSize,
      options,
    );
  }

  /** True when {@link DncModel.run} can use the whole-sequence op. */
  get sequenceSupported(): boolean {
    const controller = this.network.controller;
    return (
      this.memory.fused !== undefined &&
      controller instanceof LstmController &&
      controller.layers.length === 1
    );
  }

  private runSequence(inputs: tf.Tensor3D, options: RunOptions<DncModelState>): RunResult {
    checkShape('inputs', inputs, [null, null, this.inputSize], '[B, T, inputSize]');
    const [batch, steps] = inputs.shape;
    if (steps === 0) throw new MannError('inputs must have at least one time step, got T = 0');
    const fused = this.memory.fused;
    const controller = this.network.controller as LstmController;
    const layer = controller.layers[0];
    if (!fused || !layer)
      throw new MannError('runSequence: needs the fused memory and one LSTM layer');
    return tidy(() => {
      const initial = options.initialState ?? this.initialState(batch);
      const lstm = (initial.controller as { layers: { h: tf.Tensor2D; c: tf.Tensor2D }[] })
        .layers[0];
      if (!lstm) throw new MannError('initialState.controller must hold one LSTM layer');
      const readSize = this.memory.readSize;
      const [inputKernel, readKernel] = tf.split(
        layer.inputKernel,
        [this.inputSize, readSize],
        0,
      ) as [tf.Tensor2D, tf.Tensor2D];
      const output = this.network.outputLayer;
      const logits = fusedSequence(fused, this.network.clipValue, {
        inputs: inputs.transpose([1, 0, 2]) as tf.Tensor3D,
        inputKernel,
        lstmBias: layer.bias as tf.Tensor1D,
        recurrent: tf.concat([layer.recurrentKernel, readKernel], 0) as tf.Tensor2D,
        interfaceKernel: this.network.interfaceLayer.kernel as tf.Tensor2D,
        interfaceBias: this.network.interfaceLayer.bias as tf.Tensor1D,
        outputKernel: output.kernel as tf.Tensor2D,
        outputBias: output.bias as tf.Tensor1D,
        h0: lstm.h,
        c0: lstm.c,
        reads0: initial.reads,
        memory0: initial.memory,
      }).transpose([1, 0, 2]) as tf.Tensor3D;
      const limit = this.config.outputClipValue;
      return {
        outputs: limit > 0 ? (tf.clipByValue(logits, -limit, limit) as tf.Tensor3D) : logits,
      };
    });
  }

  dispose(): void {
    this.network.dispose();
  }
}

/** Registry entry of the DNC model, `createModel({ type: 'dnc', inputSize, outputSize, ... })`. */
export const dncDefinition: ModelDefinition<DncConfig> = {
  type: 'dnc',
  description:
    'Differentiable Neural Computer (Graves et al. 2016) with optional DNC-MD masking, deallocation, link sharpness and sparse links',
  resolveConfig: (given) => resolveDncConfig(given as DncOptions),
  create(config, rng) {
    const memory = new DncMemory(memoryConfigOf(config));
    const network = buildMemoryNetwork(
      config,
      config.controller,
      config.clipValue,
      rng,
      () => memory,
    );
    return new DncModel(config, network, memory);
  },
};

/**
 * Registry entry of the DNC memory scheme, for the generic memory network:
 * `createModel({ type: 'memory', inputSize, outputSize, memory: { type: 'dnc', ... } })`.
 */
export const dncMemoryDefinition: MemoryDefinition<DncMemoryConfig> = {
  type: 'dnc',
  description: 'DNC memory access: usage, allocation, temporal links, content and link reads',
  resolveConfig: (given) => resolveDncMemoryConfig(given as Partial<DncMemoryConfig>),
  create: (config) => new DncMemory(config),
};

/**
 * Builds a DNC from options (defaults: LSTM controller [100], memory 128 x 20, 4 read heads,
 * 1 write head) with parameters drawn from `options.seed` (default 0) or `options.rng`.
 * Same as `createModel({ type: 'dnc', ... })`.
 */
export function createDnc(config: DncOptions, options: CreateModelOptions = {}): DncModel {
  registerModel(dncDefinition);
  return createModel({ ...config, type: 'dnc' }, options) as DncModel;
}
