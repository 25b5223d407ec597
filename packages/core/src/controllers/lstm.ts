import * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type { Controller } from '../interfaces.js';
import type { Initializer, ParameterScope } from '../params.js';
import { checkChoice, checkInteger } from '../errors.js';
import { lstmCellFused } from '../fused/lstm-ops.js';

/** Hidden and cell state of one LSTM layer, each [B, hidden]. */
export interface LstmLayerState {
  readonly h: tf.Tensor2D;
  readonly c: tf.Tensor2D;
}

/** State of a stacked LSTM: one entry per layer, bottom first. */
export interface LstmState {
  readonly layers: readonly LstmLayerState[];
}

/** Parameters of one LSTM layer; gates are ordered [input, forget, cell, output]. */
export interface LstmLayer {
  readonly inputSize: number;
  readonly hiddenSize: number;
  /** W_x, [inputSize, 4 hidden] */
  readonly inputKernel: tf.Variable;
  /** W_h, [hidden, 4 hidden] */
  readonly recurrentKernel: tf.Variable;
  /** b, [4 hidden]; forget-gate bias starts at 1 */
  readonly bias: tf.Variable;
}

/** How an LSTM layer's parameters start; see {@link LstmInit}. */
export const LSTM_INITS = ['glorot', 'wide-uniform'] as const;

/**
 * How an LSTM layer's parameters start:
 * - `glorot`: Glorot-uniform W_x and W_h (each over its own fan-in and the 4H gate
 *   outputs), biases 0 except the forget gate's, 1 (Gers et al. 2000; Jozefowicz et al.
 *   2015);
 * - `wide-uniform`: every entry of W_x and W_h uniform in +-5 / sqrt(inputSize + H), every
 *   bias 0, as loudinthecloud/pytorch-ntm's LSTM controller. About 4 times wider than
 *   `glorot` at the NTM paper's sizes; with it, a random memory and zero initial weightings,
 *   the NTM learns copy in less than half the sequences (docs/results/ntm-convergence.md).
 */
export type LstmInit = (typeof LSTM_INITS)[number];

/** Glorot-uniform kernels and a forget-gate bias of 1. */
export const DEFAULT_LSTM_INIT: LstmInit = 'glorot';

/** Creates one LSTM layer's parameters under `scope`, initialised by `init`. */
export function createLstmLayer(
  scope: ParameterScope,
  inputSize: number,
  hiddenSize: number,
  init: LstmInit = DEFAULT_LSTM_INIT,
): LstmLayer {
  checkInteger('hiddenSize', hiddenSize, 1);
  checkChoice('init', init, LSTM_INITS);
  const kernelInit = (fanIn: number): Initializer => {
    if (init === 'glorot') return { kind: 'glorotUniform', fanIn, fanOut: 4 * hiddenSize };
    const limit = 5 / Math.sqrt(inputSize + hiddenSize);
    return { kind: 'uniform', low: -limit, high: limit };
  };
  const inputKernel = scope.create(
    'inputKernel',
    [inputSize, 4 * hiddenSize],
    kernelInit(inputSize),
  );
  const recurrentKernel = scope.create(
    'recurrentKernel',
    [hiddenSize, 4 * hiddenSize],
    kernelInit(hiddenSize),
  );
  const bias = scope.create('bias', [4 * hiddenSize], { kind: 'zeros' });
  if (init === 'glorot') {
    // forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015)
    tf.tidy(() =>
      bias.assign(
        tf.concat([tf.zeros([hiddenSize]), tf.ones([hiddenSize]), tf.zeros([2 * hiddenSize])]),
      ),
    );
  }
  return { inputSize, hiddenSize, inputKernel, recurrentKernel, bias };
}

/**
 * One LSTM cell update from precomputed input projections `xw = x W_x + b` [B, 4H]:
 * i, f, g, o = split(xw + h W_h); c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c').
 */
export function lstmCell(layer: LstmLayer, xw: tf.Tensor2D, state: LstmLayerState): LstmLayerState {
  return tidy(() => {
    const gates = tf.add(xw, tf.matMul(state.h, layer.recurrentKernel as tf.Tensor2D));
    const [i, f, g, o] = tf.split(gates, 4, 1) as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
    ];
    const c = tf.add(
      tf.mul(tf.sigmoid(f), state.c),
      tf.mul(tf.sigmoid(i), tf.tanh(g)),
    ) as tf.Tensor2D;
    const h = tf.mul(tf.sigmoid(o), tf.tanh(c)) as tf.Tensor2D;
    return { h, c };
  });
}

/** Projects inputs through a layer's input kernel and bias: [..., in] -> [..., 4H]. */
export function lstmInputProjection<T extends tf.Tensor2D | tf.Tensor3D>(
  layer: LstmLayer,
  x: T,
): T {
  if (x.rank === 2) {
    return tf.fused.matMul({
      a: x as tf.Tensor2D,
      b: layer.inputKernel as tf.Tensor2D,
      bias: layer.bias,
    }) as T;
  }
  return tidy(() => {
    const [b, t] = x.shape as [number, number, number];
    const flat = x.reshape([b * t, layer.inputSize]) as tf.Tensor2D;
    const projected = tf.fused.matMul({
      a: flat,
      b: layer.inputKernel as tf.Tensor2D,
      bias: layer.bias,
    });
    return projected.reshape([b, t, 4 * layer.hiddenSize]) as T;
  });
}

/** One layer's update from its input x [B, in]: the fused op or the composed reference. */
export function lstmLayerStep(
  layer: LstmLayer,
  x: tf.Tensor2D,
  state: LstmLayerState,
  fused: boolean,
): LstmLayerState {
  return fused
    ? lstmCellFused(layer, x, state)
    : lstmCell(layer, lstmInputProjection(layer, x), state);
}

/** Zero state for a stack of layers. */
export function zeroLstmState(layers: readonly LstmLayer[], batchSize: number): LstmState {
  return {
    layers: layers.map((l) => ({
      h: tf.zeros([batchSize, l.hiddenSize]) as tf.Tensor2D,
      c: tf.zeros([batchSize, l.hiddenSize]) as tf.Tensor2D,
    })),
  };
}

/** Options of an {@link LstmController} or `LstmModel` that do not change what it computes. */
export interface LstmOptions {
  /**
   * Run each cell update (and, in `LstmModel.run`, each layer's whole sequence) as one fused
   * op with a hand-written gradient (`lstmCellFused`, `lstmLayerSequence`) instead of
   * composing TF.js ops: same values and gradients, 11 kernels per cell step instead of 82.
   * Default true; false selects the composed reference ({@link lstmCell}).
   */
  readonly fused?: boolean;
  /** How the layers' parameters start. Default {@link DEFAULT_LSTM_INIT} (`glorot`). */
  readonly init?: LstmInit;
}

/**
 * A stacked LSTM controller (default controller of the NTM and DNC). Output is the top
 * layer's h_t. Parameters: `lstm{k}/inputKernel`, `lstm{k}/recurrentKernel`, `lstm{k}/bias`.
 */
export class LstmController implements Controller<LstmState> {
  readonly layers: readonly LstmLayer[];
  readonly outputSize: number;
  /** See {@link LstmOptions.fused}. */
  readonly fused: boolean;

  constructor(
    scope: ParameterScope,
    readonly inputSize: number,
    hiddenSizes: readonly number[],
    options: LstmOptions = {},
  ) {
    checkInteger('inputSize', inputSize, 1);
    this.fused = options.fused ?? true;
    if (hiddenSizes.length === 0)
      throw new Error('hiddenSizes must list at least one layer, got []');
    let width = inputSize;
    this.layers = hiddenSizes.map((hidden, k) => {
      const layer = createLstmLayer(scope.scope(`lstm${k}`), width, hidden, options.init);
      width = hidden;
      return layer;
    });
    this.outputSize = width;
  }

  initialState(batchSize: number): LstmState {
    return zeroLstmState(this.layers, batchSize);
  }

  step(input: tf.Tensor2D, state: LstmState): { output: tf.Tensor2D; state: LstmState } {
    return tidy(() => {
      let x = input;
      const next: LstmLayerState[] = [];
      this.layers.forEach((layer, k) => {
        const s = lstmLayerStep(layer, x, state.layers[k] as LstmLayerState, this.fused);
        next.push(s);
        x = s.h;
      });
      return { output: x, state: { layers: next } };
    });
  }
}
