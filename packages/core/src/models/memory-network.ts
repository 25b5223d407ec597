import * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type {
  Controller,
  MemoryAccess,
  ModelConfig,
  ModelStepResult,
  RecurrentModel,
  RunOptions,
  RunResult,
  StepOptions,
} from '../interfaces.js';
import { ParameterStore } from '../params.js';
import type { Rng } from '../random.js';
import { createLinear, type Linear } from '../nn/linear.js';
import {
  createController,
  resolveControllerConfig,
  type ControllerConfig,
} from '../controllers/config.js';
import { getMemoryDefinition, type ModelDefinition } from '../registry.js';
import { checkNumber, checkShape, MannError } from '../errors.js';
import { withDefaults } from '../config.js';
import { runSteps } from './run.js';

/** State of a {@link MemoryNetwork}. */
export interface MemoryNetworkState<C = unknown, M = unknown> {
  /** The controller's own state (e.g. LSTM h and c per layer). */
  readonly controller: C;
  /** The memory's state (memory matrix, weightings, ...). */
  readonly memory: M;
  /** Read vectors of the previous step r_{t-1}, [B, readSize]. */
  readonly reads: tf.Tensor2D;
}

/** Parts of a {@link MemoryNetwork}: built by the caller, so any controller and memory combine. */
export interface MemoryNetworkParts {
  readonly config: ModelConfig;
  readonly parameters: ParameterStore;
  readonly controller: Controller;
  readonly memory: MemoryAccess;
  /** Controller outputs are clipped to [-clipValue, clipValue]; 0 disables (docs/spec.md section 1). */
  readonly clipValue: number;
}

/**
 * Controller + external memory, wired as in both papers:
 * `h_t = controller([x_t ; r_{t-1}])`, `xi_t = W_xi clip(h_t)` (the interface vector),
 * `r_t = memory(xi_t)`, `y_t = W_y [clip(h_t) ; r_t]`.
 * Parameters: `controller/...`, `memory/...`, `interface/{kernel,bias}`, `output/{kernel,bias}`.
 */
export class MemoryNetwork implements RecurrentModel<MemoryNetworkState> {
  readonly config: ModelConfig;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly parameters: ParameterStore;
  readonly controller: Controller;
  readonly memory: MemoryAccess;
  readonly clipValue: number;
  /** W_xi: controller output -> interface vector. */
  readonly interfaceLayer: Linear;
  /** W_y: [h ; r] -> output logits. */
  readonly outputLayer: Linear;

  constructor(parts: MemoryNetworkParts) {
    this.config = parts.config;
    this.inputSize = parts.config.inputSize;
    this.outputSize = parts.config.outputSize;
    this.parameters = parts.parameters;
    this.controller = parts.controller;
    this.memory = parts.memory;
    this.clipValue = checkNumber('clipValue', parts.clipValue, 0);
    if (this.controller.inputSize !== this.inputSize + this.memory.readSize) {
      throw new MannError(
        `controller.inputSize must be inputSize + readSize = ${this.inputSize + this.memory.readSize}, got ${this.controller.inputSize}`,
      );
    }
    const h = this.controller.outputSize;
    this.interfaceLayer = createLinear(
      this.parameters.scope('interface'),
      h,
      this.memory.interfaceSize,
    );
    this.outputLayer = createLinear(
      this.parameters.scope('output'),
      h + this.memory.readSize,
      this.outputSize,
    );
  }

  initialState(batchSize: number): MemoryNetworkState {
    return {
      controller: this.controller.initialState(batchSize),
      memory: this.memory.initialState(batchSize),
      reads: this.memory.initialReads(batchSize),
    };
  }

  step(
    input: tf.Tensor2D,
    state: MemoryNetworkState,
    options: StepOptions = {},
  ): ModelStepResult<MemoryNetworkState> {
    checkShape('input', input, [null, this.inputSize], '[B, inputSize]', 'float32');
    return tidy(() => {
      const controllerStep = this.controller.step(
        tf.concat([input, state.reads], 1),
        state.controller,
      );
      const h =
        this.clipValue > 0
          ? (tf.clipByValue(controllerStep.output, -this.clipValue, this.clipValue) as tf.Tensor2D)
          : controllerStep.output;
      const memoryStep = this.memory.step(this.interfaceLayer.apply(h), state.memory, options);
      const output = this.outputLayer.apply(tf.concat([h, memoryStep.reads], 1) as tf.Tensor2D);
      return {
        output,
        state: {
          controller: controllerStep.state,
          memory: memoryStep.state,
          reads: memoryStep.reads,
        },
        ...(memoryStep.trace ? { trace: memoryStep.trace } : {}),
      };
    });
  }

  run(inputs: tf.Tensor3D, options: RunOptions<MemoryNetworkState> = {}): RunResult {
    return runSteps(
      (x, s, o) => this.step(x, s, o),
      (b) => this.initialState(b),
      inputs,
      this.inputSize,
      options,
    );
  }

  dispose(): void {
    this.parameters.dispose();
  }
}

/** Configuration of the generic memory network, `type: 'memory'`. */
export interface MemoryNetworkConfig extends ModelConfig {
  readonly type: 'memory';
  readonly controller: ControllerConfig;
  /** A registered memory scheme and its options, e.g. `{ type: 'stack', width: 8 }`. */
  readonly memory: { readonly type: string; readonly [key: string]: unknown };
  /** Controller-output clipping (0 disables). Default {@link DEFAULT_CLIP_VALUE}. */
  readonly clipValue: number;
}

/** Default controller-output clip, as deepmind/dnc (docs/spec.md section 1). */
export const DEFAULT_CLIP_VALUE = 20;

/**
 * Builds a {@link MemoryNetwork} from a controller config and a memory built by `makeMemory`;
 * what every memory model's factory does.
 */
export function buildMemoryNetwork(
  config: ModelConfig,
  controllerConfig: ControllerConfig,
  clipValue: number,
  rng: Rng,
  makeMemory: (scope: ReturnType<ParameterStore['scope']>) => MemoryAccess,
): MemoryNetwork {
  const parameters = new ParameterStore(rng);
  try {
    const memory = makeMemory(parameters.scope('memory'));
    const controller = createController(
      parameters.scope('controller'),
      config.inputSize + memory.readSize,
      controllerConfig,
    );
    return new MemoryNetwork({ config, parameters, controller, memory, clipValue });
  } catch (error) {
    parameters.dispose();
    throw error;
  }
}

/** The generic memory network: any registered memory scheme behind a built-in controller. */
export const memoryNetworkDefinition: ModelDefinition<MemoryNetworkConfig> = {
  type: 'memory',
  description: 'a controller with any registered memory scheme (config.memory.type)',
  resolveConfig(given) {
    const config = withDefaults(
      'memory network config',
      {
        type: 'memory' as const,
        inputSize: given.inputSize,
        outputSize: given.outputSize,
        controller: undefined as unknown as ControllerConfig,
        memory: undefined as unknown as MemoryNetworkConfig['memory'],
        clipValue: DEFAULT_CLIP_VALUE,
      },
      given,
    );
    const memory = config.memory;
    if (!memory || typeof memory.type !== 'string') {
      throw new MannError(
        `memory network config.memory must be { type: <memory scheme>, ... }, got ${JSON.stringify(memory)}`,
      );
    }
    const { type, ...options } = memory;
    const resolvedMemory = { type, ...getMemoryDefinition(type).resolveConfig(options) };
    return {
      ...config,
      controller: resolveControllerConfig(config.controller),
      memory: resolvedMemory,
      clipValue: checkNumber('clipValue', config.clipValue, 0),
    };
  },
  create(config, rng) {
    const definition = getMemoryDefinition(config.memory.type);
    const { type: _type, ...options } = config.memory;
    return buildMemoryNetwork(config, config.controller, config.clipValue, rng, (scope) =>
      definition.create(definition.resolveConfig(options), scope),
    );
  },
};
