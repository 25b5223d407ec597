import * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type { Initializer, ParameterScope } from '../params.js';
import { checkChoice, checkInteger } from '../errors.js';

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

/** Zero state for a stack of layers. */
export function zeroLstmState(layers: readonly LstmLayer[], batchSize: number): LstmState {
  return {
    layers: layers.map((l) => ({
      h: tf.zeros([batchSize, l.hiddenSize]) as tf.Tensor2D,
      c: tf.zeros([batchSize, l.hiddenSize]) as tf.Tensor2D,
    })),
  };
}
