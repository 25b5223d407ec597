import * as tf from '@tensorflow/tfjs';
import { buildMemoryNetwork, createModel, registerModel, tidy } from '@mann/core';
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
  SequenceBatch,
  StepOptions,
} from '@mann/core';
import { memoryConfigOf, resolveDncConfig, resolveDncMemoryConfig } from './config.js';
import type { DncConfig, DncMemoryConfig, DncOptions } from './config.js';
import type { DncMemory, DncState } from './memory.js';
import { createDncMemory, dncSequenceHook } from './implementation.js';

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
   * A whole sequence: the network's `run` (with the fused memory step and a one-layer LSTM
   * controller, and no traces asked for, the whole-sequence hook: the controller and the memory
   * as one kernel over all steps instead of ~90 kernels a step), then the output
   * clip. The same values and gradients as applying {@link DncModel.step} step by step.
   */
  run(inputs: tf.Tensor3D, options: RunOptions<DncModelState> = {}): RunResult {
    const limit = this.config.outputClipValue;
    if (limit === 0) return this.network.run(inputs, options);
    return tidy(() => {
      const result = this.network.run(inputs, options);
      return { ...result, outputs: tf.clipByValue(result.outputs, -limit, limit) as tf.Tensor3D };
    });
  }

  /**
   * The network's loss and gradient on arrays (`MemoryNetwork.lossAndGradientsOnArrays`, for the
   * training threads) of the clipped outputs; undefined for configurations without that path
   * (sparse links, a composed memory, other controllers than a one-layer LSTM).
   */
  lossAndGradientsOnArrays(
    batch: SequenceBatch,
    parameters: Float32Array,
    gradients: Float32Array,
  ): number | undefined {
    return this.network.lossAndGradientsOnArrays(
      batch,
      parameters,
      gradients,
      this.config.outputClipValue,
    );
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
    const memory = createDncMemory(memoryConfigOf(config));
    const network = buildMemoryNetwork(
      config,
      config.controller,
      config.clipValue,
      rng,
      () => memory,
      () => dncSequenceHook(memory),
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
  create: (config) => createDncMemory(config),
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
