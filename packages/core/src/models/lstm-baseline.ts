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
import { lstmLayerStep } from '../controllers/lstm-controller.js';
import { lstmLayerSequence } from '../fused/lstm-ops.js';
import type { ModelDefinition } from '../registry.js';
import { checkChoice, checkInteger, checkShape, invalidArgument } from '../errors.js';
import { withDefaults } from '../config.js';
import {
  DEFAULT_IMPLEMENTATION,
  IMPLEMENTATIONS,
  rejectFusedOption,
  type Implementation,
} from '../implementation.js';

/** Configuration of the LSTM baseline, `type: 'lstm'`. */
export interface LstmModelConfig extends ModelConfig {
  readonly type: 'lstm';
  /** Units per layer, bottom first. Default [256, 256, 256] (the NTM paper's copy baseline). */
  readonly hiddenSizes: readonly number[];
  /**
   * How the model computes; both give the same values and gradients (tests hold them to
   * float32 rounding on cpu and wasm). `fused`: each layer's whole sequence in `run` is one
   * op with a hand-written gradient ({@link lstmLayerSequence}), and each cell update in
   * `step` one op too; `composed`: the TF.js ops of {@link lstmCell}, the reference.
   * Default {@link DEFAULT_IMPLEMENTATION} (`fused`). The same option as the NTM's and the
   * DNC's; it replaced the boolean `fused` constructor option (a config or options object
   * with `fused` is refused; checkpoints saved with it are read as `implementation`).
   */
  readonly implementation: Implementation;
}

/** Default layer sizes of the LSTM baseline (NTM paper, copy: 3 x 256). */
export const DEFAULT_LSTM_HIDDEN_SIZES: readonly number[] = [256, 256, 256];

/**
 * The LSTM baseline of both papers: stacked LSTM layers and a linear output layer,
 * `y_t = W_y h^top_t + b_y`. Parameters: `lstm{k}/{inputKernel,recurrentKernel,bias}`,
 * `output/{kernel,bias}`. `run` processes one layer at a time: with `implementation: 'fused'`
 * (the default) each layer's whole sequence is one fused op ({@link lstmLayerSequence}); the
 * composed reference projects the layer's inputs for all time steps in one matMul and loops
 * `lstmCell`. `step` gives the same values one step at a time.
 */
export class LstmModel implements RecurrentModel<LstmState> {
  readonly inputSize: number;
  readonly outputSize: number;
  readonly parameters: ParameterStore;
  readonly layers: readonly LstmLayer[];
  readonly outputLayer: Linear;
  /** `config.implementation`; see {@link LstmModelConfig.implementation}. */
  readonly implementation: Implementation;

  constructor(
    readonly config: LstmModelConfig,
    rng: Rng,
  ) {
    rejectFusedOption('lstm config', config);
    this.implementation = checkChoice(
      'implementation',
      config.implementation ?? DEFAULT_IMPLEMENTATION,
      IMPLEMENTATIONS,
    );
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
        const next = lstmLayerStep(
          layer,
          x,
          state.layers[k] as LstmLayerState,
          this.implementation,
        );
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
        if (this.implementation === 'fused') {
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
    rejectFusedOption('lstm config', given);
    const config = withDefaults(
      'lstm config',
      {
        type: 'lstm' as const,
        inputSize: given.inputSize,
        outputSize: given.outputSize,
        hiddenSizes: DEFAULT_LSTM_HIDDEN_SIZES,
        implementation: DEFAULT_IMPLEMENTATION,
      },
      given,
    );
    checkChoice('implementation', config.implementation, IMPLEMENTATIONS);
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
