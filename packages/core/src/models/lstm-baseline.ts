import * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type {
  ModelConfig,
  ModelStepResult,
  RecurrentModel,
  RunOptions,
  RunResult,
} from '../interfaces.js';
import { ParameterStore } from '../params.js';
import type { Rng } from '../random.js';
import { createLinear, type Linear } from '../nn/linear.js';
import {
  createLstmLayer,
  lstmCell,
  lstmInputProjection,
  zeroLstmState,
  type LstmLayer,
  type LstmLayerState,
  type LstmState,
} from '../controllers/lstm.js';
import { lstmLayerStep, type LstmOptions } from '../controllers/lstm-controller.js';
import { lstmLayerSequence } from '../fused/lstm-ops.js';
import type { ModelDefinition } from '../registry.js';
import { checkInteger, checkShape, invalidArgument } from '../errors.js';
import { withDefaults } from '../config.js';

/** Configuration of the LSTM baseline, `type: 'lstm'`. */
export interface LstmModelConfig extends ModelConfig {
  readonly type: 'lstm';
  /** Units per layer, bottom first. Default [256, 256, 256] (the NTM paper's copy baseline). */
  readonly hiddenSizes: readonly number[];
}

/** Default layer sizes of the LSTM baseline (NTM paper, copy: 3 x 256). */
export const DEFAULT_LSTM_HIDDEN_SIZES: readonly number[] = [256, 256, 256];

/**
 * The LSTM baseline of both papers: stacked LSTM layers and a linear output layer,
 * `y_t = W_y h^top_t + b_y`. Parameters: `lstm{k}/{inputKernel,recurrentKernel,bias}`,
 * `output/{kernel,bias}`. `run` processes one layer at a time: by default each layer's whole
 * sequence is one fused op ({@link lstmLayerSequence}); the composed reference projects the
 * layer's inputs for all time steps in one matMul and loops `lstmCell`. `step` gives the same
 * values one step at a time.
 */
export class LstmModel implements RecurrentModel<LstmState> {
  readonly inputSize: number;
  readonly outputSize: number;
  readonly parameters: ParameterStore;
  readonly layers: readonly LstmLayer[];
  readonly outputLayer: Linear;
  /** See {@link LstmOptions.fused}; not part of the config because it does not change the model. */
  readonly fused: boolean;

  constructor(
    readonly config: LstmModelConfig,
    rng: Rng,
    options: LstmOptions = {},
  ) {
    this.fused = options.fused ?? true;
    this.inputSize = config.inputSize;
    this.outputSize = config.outputSize;
    this.parameters = new ParameterStore(rng);
    let width = config.inputSize;
    this.layers = config.hiddenSizes.map((hidden, k) => {
      const layer = createLstmLayer(this.parameters.scope(`lstm${k}`), width, hidden);
      width = hidden;
      return layer;
    });
    this.outputLayer = createLinear(this.parameters.scope('output'), width, config.outputSize);
  }

  initialState(batchSize: number): LstmState {
    return zeroLstmState(this.layers, batchSize);
  }

  step(input: tf.Tensor2D, state: LstmState): ModelStepResult<LstmState> {
    checkShape('input', input, [null, this.inputSize], '[B, inputSize]', 'float32');
    return tidy(() => {
      let x = input;
      const layers: LstmLayerState[] = [];
      this.layers.forEach((layer, k) => {
        const next = lstmLayerStep(layer, x, state.layers[k] as LstmLayerState, this.fused);
        layers.push(next);
        x = next.h;
      });
      return { output: this.outputLayer.apply(x), state: { layers } };
    });
  }

  run(inputs: tf.Tensor3D, options: RunOptions<LstmState> = {}): RunResult {
    checkShape('inputs', inputs, [null, null, this.inputSize], '[B, T, inputSize]', 'float32');
    return tidy(() => {
      const [batchSize] = inputs.shape;
      const initial = options.initialState ?? this.initialState(batchSize);
      let sequence: tf.Tensor3D = inputs;
      this.layers.forEach((layer, k) => {
        if (this.fused) {
          sequence = lstmLayerSequence(layer, sequence, initial.layers[k] as LstmLayerState);
          return;
        }
        const projected = tf.unstack(lstmInputProjection(layer, sequence), 1) as tf.Tensor2D[];
        let state = initial.layers[k] as LstmLayerState;
        const hs: tf.Tensor2D[] = [];
        for (const xw of projected) {
          state = lstmCell(layer, xw, state);
          hs.push(state.h);
        }
        sequence = tf.stack(hs, 1) as tf.Tensor3D;
      });
      return { outputs: this.outputLayer.apply(sequence) };
    });
  }

  dispose(): void {
    this.parameters.dispose();
  }
}

/** Registry entry of the LSTM baseline. */
export const lstmModelDefinition: ModelDefinition<LstmModelConfig> = {
  type: 'lstm',
  description: 'LSTM baseline: stacked LSTM layers and a linear output',
  resolveConfig(given) {
    const config = withDefaults(
      'lstm config',
      {
        type: 'lstm' as const,
        inputSize: given.inputSize,
        outputSize: given.outputSize,
        hiddenSizes: DEFAULT_LSTM_HIDDEN_SIZES,
      },
      given,
    );
    if (!Array.isArray(config.hiddenSizes) || config.hiddenSizes.length === 0) {
      throw invalidArgument(
        'hiddenSizes',
        config.hiddenSizes,
        'a non-empty list of positive integers',
      );
    }
    config.hiddenSizes.forEach((h, i) => checkInteger(`hiddenSizes[${i}]`, h, 1));
    return { ...config, hiddenSizes: [...config.hiddenSizes] };
  },
  create(config, rng) {
    return new LstmModel(config, rng);
  },
};
