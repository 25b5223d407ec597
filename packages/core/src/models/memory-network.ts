import * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type {
  Controller,
  MemoryAccess,
  ModelConfig,
  ParameterArrays,
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
import { validateBatch, type SequenceBatch } from '../data.js';

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
  /** A faster `run` for the cases it covers (see {@link SequenceHook}); none by default. */
  readonly sequence?: SequenceHook;
}

/**
 * An optional whole-sequence implementation of {@link MemoryNetwork.run}, e.g. a fused op over
 * all steps (`@mann/core/fused`'s `fusedSequenceHook`). It must compute the same outputs, with
 * the same gradients, as the step-by-step loop it replaces.
 */
export interface SequenceHook {
  /** Whether `run(inputs, options)` takes the hook (else the step loop runs). */
  applies(network: MemoryNetwork, options: RunOptions<MemoryNetworkState>): boolean;
  /** The output logits [B, T, outputSize] from `initial`; `inputs` is checked, T >= 1. */
  run(network: MemoryNetwork, inputs: tf.Tensor3D, initial: MemoryNetworkState): tf.Tensor3D;
  /**
   * Optional, for {@link MemoryNetwork.lossAndGradientsOnArrays}: the loss of `run` on `batch`
   * from the initial state (masked bits per sequence) with its gradients added by
   * `parameters.addGradient`, on arrays, without TF.js; undefined, with nothing added, when
   * this configuration has no such path. Called only where `applies` holds for a plain run.
   * With `outputClip` > 0, the loss of the logits clipped to +-outputClip.
   */
  lossAndGradients?(
    network: MemoryNetwork,
    batch: SequenceBatch,
    parameters: ParameterArrays,
    outputClip?: number,
  ): number | undefined;
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
  /** See {@link MemoryNetworkParts.sequence}. */
  readonly sequence: SequenceHook | undefined;
  /** Made at the first {@link MemoryNetwork.lossAndGradientsOnArrays}. */
  private layout: ArrayLayout | undefined;

  constructor(parts: MemoryNetworkParts) {
    this.config = parts.config;
    this.inputSize = parts.config.inputSize;
    this.outputSize = parts.config.outputSize;
    this.parameters = parts.parameters;
    this.controller = parts.controller;
    this.memory = parts.memory;
    this.clipValue = checkNumber('clipValue', parts.clipValue, 0);
    this.sequence = parts.sequence;
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

  /** Whether {@link MemoryNetwork.run} takes the {@link SequenceHook} for these options. */
  runsWholeSequence(options: RunOptions<MemoryNetworkState> = {}): boolean {
    return this.sequence?.applies(this, options) ?? false;
  }

  /**
   * The loss of a plain `run` on `batch` (masked bits per sequence) and its gradient, on arrays,
   * when the {@link SequenceHook} has such a path (the fused NTM and DNC with a one-layer LSTM
   * controller), else undefined with nothing written: see {@link RecurrentModel}. With
   * `outputClip` > 0, of the logits clipped to +-outputClip (a model that clips its outputs).
   */
  lossAndGradientsOnArrays(
    batch: SequenceBatch,
    parameters: Float32Array,
    gradients: Float32Array,
    outputClip = 0,
  ): number | undefined {
    const hook = this.sequence;
    if (!hook?.lossAndGradients || !hook.applies(this, {})) return undefined;
    validateBatch(batch);
    const layout = this.arrayLayout();
    if (parameters.length !== layout.parameterSize || gradients.length !== layout.gradientSize) {
      throw new MannError(
        `parameters and gradients must have ${layout.parameterSize} and ${layout.gradientSize} values (every parameter, the trainable ones), got ${parameters.length} and ${gradients.length}`,
      );
    }
    // A parameter's first gradient is copied in, later ones added; one that gets none is zeroed
    // at the end. Nothing is written when the hook has no path for this configuration.
    const written = new Set<tf.Variable>();
    const arrays: ParameterArrays = {
      value(variable) {
        const at = layout.values.get(variable);
        if (at === undefined)
          throw new MannError(`${variable.name} is not a parameter of this model`);
        return parameters.subarray(at, at + variable.size);
      },
      addGradient(variable, gradient) {
        if (gradient.length !== variable.size) {
          throw new MannError(
            `the gradient of ${variable.name} has ${gradient.length} values, the parameter ${variable.size}`,
          );
        }
        const at = layout.gradients.get(variable);
        if (at === undefined) return; // not trainable
        if (!written.has(variable)) {
          gradients.set(gradient, at);
          written.add(variable);
          return;
        }
        for (let i = 0; i < gradient.length; i++) {
          gradients[at + i] = (gradients[at + i] as number) + (gradient[i] as number);
        }
      },
    };
    const loss = hook.lossAndGradients(this, batch, arrays, outputClip);
    if (loss !== undefined) {
      for (const [variable, at] of layout.gradients) {
        if (!written.has(variable)) gradients.fill(0, at, at + variable.size);
      }
    }
    return loss;
  }

  /** Where each parameter's values and gradient are in the flat arrays (made once). */
  private arrayLayout(): ArrayLayout {
    if (!this.layout) {
      const offsets = (entries: [string, tf.Variable][]): [Map<tf.Variable, number>, number] => {
        const map = new Map<tf.Variable, number>();
        let offset = 0;
        for (const [, v] of entries) {
          map.set(v, offset);
          offset += v.size;
        }
        return [map, offset];
      };
      const [values, parameterSize] = offsets(this.parameters.entries());
      const [gradients, gradientSize] = offsets(this.parameters.trainableEntries());
      this.layout = { values, parameterSize, gradients, gradientSize };
    }
    return this.layout;
  }

  run(inputs: tf.Tensor3D, options: RunOptions<MemoryNetworkState> = {}): RunResult {
    const hook = this.sequence;
    if (hook && hook.applies(this, options)) {
      checkShape('inputs', inputs, [null, null, this.inputSize], '[B, T, inputSize]', 'float32');
      const [batch, steps] = inputs.shape;
      if (steps === 0) throw new MannError('inputs must have at least one time step, got T = 0');
      return tidy(() => ({
        outputs: hook.run(this, inputs, options.initialState ?? this.initialState(batch)),
      }));
    }
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

/** Offsets of the parameters in the flat arrays of {@link MemoryNetwork.lossAndGradientsOnArrays}. */
interface ArrayLayout {
  /** By variable, in `parameters.entries()` order, and their total size. */
  readonly values: Map<tf.Variable, number>;
  readonly parameterSize: number;
  /** By trainable variable, in `trainableEntries()` order, and their total size. */
  readonly gradients: Map<tf.Variable, number>;
  readonly gradientSize: number;
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
 * Builds a {@link MemoryNetwork} from a controller config and a memory built by `makeMemory`
 * (and, when `sequence` gives one, the memory's {@link SequenceHook}); what every memory
 * model's factory does.
 */
export function buildMemoryNetwork(
  config: ModelConfig,
  controllerConfig: ControllerConfig,
  clipValue: number,
  rng: Rng,
  makeMemory: (scope: ReturnType<ParameterStore['scope']>) => MemoryAccess,
  sequence?: (memory: MemoryAccess) => SequenceHook | undefined,
): MemoryNetwork {
  const parameters = new ParameterStore(rng);
  try {
    const memory = makeMemory(parameters.scope('memory'));
    const controller = createController(
      parameters.scope('controller'),
      config.inputSize + memory.readSize,
      controllerConfig,
    );
    const hook = sequence?.(memory);
    return new MemoryNetwork({
      config,
      parameters,
      controller,
      memory,
      clipValue,
      ...(hook ? { sequence: hook } : {}),
    });
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
