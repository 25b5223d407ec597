import * as tf from '@tensorflow/tfjs';
import { customGradient } from '../math/custom-gradient.js';
import { checkShape, MannError } from '../errors.js';
import type { LstmLayerState } from '../controllers/lstm.js';
import {
  lstmGateWeights,
  lstmRecurrenceBackward,
  lstmSequenceForward,
  lstmStepForward,
  lstmWeightGradients,
  type LstmRecurrenceTape,
} from './lstm-recurrence.js';

// Fused LSTM ops with hand-written gradients: the same values and gradients as the composed
// reference (`lstmInputProjection` + `lstmCell`) in far fewer kernel launches. The weights are
// explicit inputs because tf.customGrad does not differentiate variables captured by the
// forward function.

/** The tensors of one LSTM layer the fused ops read (an `LstmLayer`'s variables, or any). */
export interface LstmLayerTensors {
  /** W_x, [I, 4H] */
  readonly inputKernel: tf.Tensor;
  /** W_h, [H, 4H] */
  readonly recurrentKernel: tf.Tensor;
  /** b, [4H] */
  readonly bias: tf.Tensor;
}

/**
 * A weight as the backward pass will see it. An op's inputs may be disposed before backprop
 * runs (the forward usually runs inside a tidy), so a plain tensor is saved (cloned and kept by
 * the engine: one Identity kernel); a variable outlives the tidy and is referenced directly.
 */
function keepForBackward(
  weights: readonly tf.Tensor2D[],
  save: tf.GradSaveFunc,
): (saved: tf.Tensor[]) => tf.Tensor2D[] {
  if (weights.every((w) => w instanceof tf.Variable)) return () => [...weights];
  save([...weights]);
  return (saved) => saved as tf.Tensor2D[];
}

/** Sum over the rows of a row-major [rows, cols] array. */
function columnSums(values: Float32Array, rows: number, cols: number): Float32Array {
  const sums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) sums[k] = (sums[k] as number) + (values[r * cols + k] as number);
  }
  return Float32Array.from(sums);
}

/** Forward of a layer over all T steps of x [B * T, I]: one kernel per step. */
function sequenceForward(
  x: tf.Tensor2D,
  inputKernel: tf.Tensor2D,
  recurrentKernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  h0: tf.Tensor2D,
  c0: tf.Tensor2D,
): LstmRecurrenceTape {
  const batch = h0.shape[0];
  const weights = lstmGateWeights(inputKernel, recurrentKernel, bias);
  try {
    return lstmSequenceForward(
      x.dataSync() as Float32Array,
      batch,
      x.shape[0] / batch,
      weights,
      h0.dataSync() as Float32Array,
      c0.dataSync() as Float32Array,
    );
  } finally {
    weights.kernel.dispose();
    weights.bias.dispose();
  }
}

/**
 * Forward of one step of x [B, I]: two plain matMuls on the layer's own weight tensors (on
 * wasm a matMul's packed weights are cached per tensor, which a stacked kernel built per step
 * would defeat), the bias and the non-linearities in JS.
 */
function stepForward(
  x: tf.Tensor2D,
  inputKernel: tf.Tensor2D,
  recurrentKernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  h: tf.Tensor2D,
  c: tf.Tensor2D,
): LstmRecurrenceTape {
  const projected = tf.matMul(x, inputKernel);
  const recurrent = tf.matMul(h, recurrentKernel);
  try {
    return lstmStepForward(
      x.dataSync() as Float32Array,
      projected.dataSync() as Float32Array,
      recurrent.dataSync() as Float32Array,
      bias.dataSync() as Float32Array,
      h.dataSync() as Float32Array,
      c.dataSync() as Float32Array,
    );
  } finally {
    projected.dispose();
    recurrent.dispose();
  }
}

/** Gradients of every input of a layer: [dx [B * T, I], dW_x, dW_h, db, dh_0, dc_0]. */
function layerBackward(
  tape: LstmRecurrenceTape,
  dHiddens: Float32Array,
  dLastCell: Float32Array | null,
  inputKernel: tf.Tensor2D,
  recurrentKernel: tf.Tensor2D,
): tf.Tensor[] {
  const { batch, steps, hidden } = tape;
  const rows = batch * steps;
  const back = lstmRecurrenceBackward(tape, dHiddens, dLastCell, recurrentKernel);
  return tf.tidy(() => {
    const dGates = tf.tensor2d(back.gates, [rows, 4 * hidden]);
    const dx = tf.matMul(dGates, tf.transpose(inputKernel));
    const dWeights = lstmWeightGradients(tape, dGates);
    return [
      dx,
      dWeights.inputKernel,
      dWeights.recurrentKernel,
      tf.tensor1d(columnSums(back.gates, rows, 4 * hidden)),
      back.h0,
      tf.tensor2d(back.c0, [batch, hidden]),
    ];
  });
}

type LayerInputs = [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor2D];

/** All steps at once; x is [B * T, I] with T given by h_0 [B, H] and x's row count. */
const sequenceOp = customGradient<LayerInputs>(([x, wx, wh, bias, h0, c0], save) => {
  const weightsFor = keepForBackward([wx, wh], save);
  const tape = sequenceForward(x, wx, wh, bias, h0, c0);
  return {
    value: tf.tensor2d(tape.hiddens, [x.shape[0], tape.hidden]),
    gradFunc: (dy, saved) => {
      const [inputKernel, recurrentKernel] = weightsFor(saved) as [tf.Tensor2D, tf.Tensor2D];
      const dHiddens = dy.dataSync() as Float32Array;
      return layerBackward(tape, dHiddens, null, inputKernel, recurrentKernel);
    },
  };
});

/** One step; the value is [h' ; c'] side by side, [B, 2H] (a custom op has one output). */
const cellOp = customGradient<LayerInputs>(([x, wx, wh, bias, h, c], save) => {
  const [batch, hidden] = h.shape;
  const weightsFor = keepForBackward([wx, wh], save);
  const tape = stepForward(x, wx, wh, bias, h, c);
  const both = new Float32Array(batch * 2 * hidden);
  for (let b = 0; b < batch; b++) {
    both.set(tape.hiddens.subarray(b * hidden, (b + 1) * hidden), b * 2 * hidden);
    both.set(tape.cells.subarray(b * hidden, (b + 1) * hidden), (b * 2 + 1) * hidden);
  }
  return {
    value: tf.tensor2d(both, [batch, 2 * hidden]),
    gradFunc: (dy, saved) => {
      const [inputKernel, recurrentKernel] = weightsFor(saved) as [tf.Tensor2D, tf.Tensor2D];
      const dBoth = dy.dataSync() as Float32Array;
      const dh = new Float32Array(batch * hidden);
      const dc = new Float32Array(batch * hidden);
      for (let b = 0; b < batch; b++) {
        dh.set(dBoth.subarray(b * 2 * hidden, (b * 2 + 1) * hidden), b * hidden);
        dc.set(dBoth.subarray((b * 2 + 1) * hidden, (b + 1) * 2 * hidden), b * hidden);
      }
      return layerBackward(tape, dh, dc, inputKernel, recurrentKernel);
    },
  };
});

/** Validates the weights, the state and x: [B, T, I] for a sequence, else [B, I]. */
function checkLayerInputs(
  layer: LstmLayerTensors,
  x: tf.Tensor,
  state: LstmLayerState,
  sequence: boolean,
): void {
  const [inputSize = 0, width = 0] = layer.inputKernel.shape;
  const hidden = width / 4;
  if (layer.inputKernel.rank !== 2 || !Number.isInteger(hidden) || hidden < 1) {
    throw new MannError(
      `inputKernel must have shape [I, 4H], got [${layer.inputKernel.shape.join(', ')}]`,
    );
  }
  checkShape('recurrentKernel', layer.recurrentKernel, [hidden, 4 * hidden], '[H, 4H]');
  checkShape('bias', layer.bias, [4 * hidden], '[4H]');
  if (sequence) checkShape('x', x, [null, null, inputSize], '[B, T, I]');
  else checkShape('x', x, [null, inputSize], '[B, I]');
  const batch = x.shape[0] as number;
  checkShape('state.h', state.h, [batch, hidden], '[B, H]');
  checkShape('state.c', state.c, [batch, hidden], '[B, H]');
}

/**
 * A whole LSTM layer over a sequence as one op: h_t for every step from the layer's inputs,
 * weights and initial state. Equal in value and in gradient (with respect to x, W_x, W_h, b,
 * h_0 and c_0) to `lstmInputProjection` followed by `lstmCell` looped over t, in T + 3 kernels
 * forward (one fused matMul and sigmoid per step) and T + 7 backward (one matMul per step).
 *
 * @param layer - W_x [I, 4H], W_h [H, 4H], b [4H]
 * @param x - the layer's inputs, [B, T, I]
 * @param initial - h_0 and c_0, each [B, H]
 * @returns h_t for t = 1..T, [B, T, H]
 */
export function lstmLayerSequence(
  layer: LstmLayerTensors,
  x: tf.Tensor3D,
  initial: LstmLayerState,
): tf.Tensor3D {
  checkLayerInputs(layer, x, initial, true);
  const [batch, steps, inputSize] = x.shape;
  if (steps === 0) throw new MannError('x must have at least one time step, got T = 0');
  return tf.tidy(() => {
    const hs = sequenceOp(
      x.reshape([batch * steps, inputSize]),
      layer.inputKernel as tf.Tensor2D,
      layer.recurrentKernel as tf.Tensor2D,
      layer.bias as tf.Tensor1D,
      initial.h,
      initial.c,
    );
    return hs.reshape([batch, steps, initial.h.shape[1]]);
  });
}

/**
 * One LSTM step of one layer as one op, the fused counterpart of `lstmInputProjection`
 * followed by `lstmCell`: same values and gradients in 4 kernels forward and 7 backward
 * instead of 42 and 40 (counted on wasm, including the Identity kernels that keep tensors for
 * the gradient).
 *
 * @param layer - W_x [I, 4H], W_h [H, 4H], b [4H]
 * @param x - the step's input, [B, I]
 * @param state - h and c, each [B, H]
 */
export function lstmCellFused(
  layer: LstmLayerTensors,
  x: tf.Tensor2D,
  state: LstmLayerState,
): LstmLayerState {
  checkLayerInputs(layer, x, state, false);
  return tf.tidy(() => {
    const both = cellOp(
      x,
      layer.inputKernel as tf.Tensor2D,
      layer.recurrentKernel as tf.Tensor2D,
      layer.bias as tf.Tensor1D,
      state.h,
      state.c,
    );
    const [h, c] = tf.split(both, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    return { h, c };
  });
}
