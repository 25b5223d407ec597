import * as tf from '@tensorflow/tfjs';
import { defineFusedOp } from './fused-op.js';
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

// Fused LSTM ops with hand-written gradients, registered with `defineFusedOp` (a kernel and its
// gradient, as TF.js registers its own ops): the same values and gradients as the composed
// reference (`lstmInputProjection` + `lstmCell`) in far fewer kernel launches. The kernels run
// the recurrence's matMuls as nested TF.js kernels, which the gradient tape does not record.

/** The tensors of one LSTM layer the fused ops read (an `LstmLayer`'s variables, or any). */
export interface LstmLayerTensors {
  /** W_x, [I, 4H] */
  readonly inputKernel: tf.Tensor;
  /** W_h, [H, 4H] */
  readonly recurrentKernel: tf.Tensor;
  /** b, [4H] */
  readonly bias: tf.Tensor;
}

/** Sum over the rows of a row-major [rows, cols] array. */
function columnSums(values: Float32Array, rows: number, cols: number): Float32Array {
  const sums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) sums[k] = (sums[k] as number) + (values[r * cols + k] as number);
  }
  return Float32Array.from(sums);
}

/** What a call keeps for its gradient: the forward pass's tape. */
interface LstmContext {
  tape?: LstmRecurrenceTape;
}

/** The inputs of both ops, by name; the weights are kept for the gradient. */
type LayerInputs = Readonly<
  Record<'x' | 'inputKernel' | 'recurrentKernel' | 'bias' | 'h' | 'c', tf.Tensor>
>;

const SAVED_WEIGHTS = ['inputKernel', 'recurrentKernel'] as const;

/** The tape of a call, once: a second gradient of the same call is an error. */
function takeTape(context: LstmContext, op: string): LstmRecurrenceTape {
  const { tape } = context;
  if (!tape) throw new MannError(`${op}: the gradient of a call can only be taken once`);
  context.tape = undefined;
  return tape;
}

/**
 * Gradients of every input of a layer by name: x [B * T, I] (or [B, I]), W_x, W_h, b, h_0, c_0.
 * `dLastCell` is dL/dc_T from outside (the cell op's second output), or null.
 */
function layerBackward(
  tape: LstmRecurrenceTape,
  dHiddens: Float32Array,
  dLastCell: Float32Array | null,
  saved: Readonly<Record<string, tf.Tensor>>,
): Record<string, () => tf.Tensor> {
  const { batch, steps, hidden } = tape;
  const rows = batch * steps;
  const inputKernel = saved.inputKernel as tf.Tensor2D;
  const back = lstmRecurrenceBackward(
    tape,
    dHiddens,
    dLastCell,
    saved.recurrentKernel as tf.Tensor2D,
  );
  const [dx, dInputKernel, dRecurrentKernel] = tf.tidy(() => {
    const dGates = tf.tensor2d(back.gates, [rows, 4 * hidden]);
    const dWeights = lstmWeightGradients(tape, dGates);
    return [
      tf.matMul(dGates, tf.transpose(inputKernel)),
      dWeights.inputKernel,
      dWeights.recurrentKernel,
    ];
  });
  return {
    x: () => dx,
    inputKernel: () => dInputKernel,
    recurrentKernel: () => dRecurrentKernel,
    bias: () => tf.tensor1d(columnSums(back.gates, rows, 4 * hidden)),
    h: () => back.h0,
    c: () => tf.tensor2d(back.c0, [batch, hidden]),
  };
}

/**
 * A whole layer: x is [B * T, I] with T given by h_0 [B, H] and x's row count; h_t for every
 * step, [B * T, H]. One kernel per step forward (the stacked gate weights, see
 * `lstmGateWeights`), one matMul per step backward.
 */
const sequenceOp = defineFusedOp<LstmContext>({
  name: 'MannLstmSequence',
  save: SAVED_WEIGHTS,
  forward(inputs, context) {
    const h0 = inputs.floats('h');
    const [inputKernel, recurrentKernel, bias] = (
      ['inputKernel', 'recurrentKernel', 'bias'] as const
    ).map((name) => inputs.tensor(name)) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const weights = lstmGateWeights(inputKernel, recurrentKernel, bias);
    const hidden = bias.shape[0] / 4;
    const batch = h0.length / hidden;
    const x = inputs.floats('x');
    let tape: LstmRecurrenceTape;
    try {
      const steps = x.length / (batch * (inputKernel.shape[0] as number));
      tape = lstmSequenceForward(x, batch, steps, weights, h0, inputs.floats('c'));
    } finally {
      for (const t of [inputKernel, recurrentKernel, bias, weights.kernel, weights.bias])
        t.dispose();
    }
    context.tape = tape;
    return [{ values: tape.hiddens, shape: [batch * tape.steps, hidden] }];
  },
  backward([dHiddens], context, saved) {
    const tape = takeTape(context, 'lstmLayerSequence');
    return layerBackward(tape, dHiddens as Float32Array, null, saved);
  },
});

/**
 * One step: x [B, I] to h' and c', each [B, H]. Two plain matMuls on the layer's own weight
 * tensors (on wasm a matMul's packed weights are cached per tensor, which a stacked kernel
 * built per step would defeat), the bias and the non-linearities in JS.
 */
const cellOp = defineFusedOp<LstmContext>({
  name: 'MannLstmCell',
  save: SAVED_WEIGHTS,
  forward(inputs, context) {
    const [x, inputKernel, h, recurrentKernel] = (
      ['x', 'inputKernel', 'h', 'recurrentKernel'] as const
    ).map((name) => inputs.tensor(name)) as tf.Tensor2D[] as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
    ];
    const projected = tf.matMul(x, inputKernel);
    const recurrent = tf.matMul(h, recurrentKernel);
    let tape: LstmRecurrenceTape;
    try {
      tape = lstmStepForward(
        inputs.floats('x'),
        projected.dataSync() as Float32Array,
        recurrent.dataSync() as Float32Array,
        inputs.floats('bias'),
        inputs.floats('h'),
        inputs.floats('c'),
      );
    } finally {
      for (const t of [x, inputKernel, h, recurrentKernel, projected, recurrent]) t.dispose();
    }
    context.tape = tape;
    const shape = [tape.batch, tape.hidden];
    return [
      { values: tape.hiddens, shape },
      { values: tape.cells, shape },
    ];
  },
  backward([dh, dc], context, saved) {
    const tape = takeTape(context, 'lstmCellFused');
    return layerBackward(tape, dh as Float32Array, dc as Float32Array, saved);
  },
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
    const [hs] = sequenceOp(
      {
        x: x.reshape([batch * steps, inputSize]),
        inputKernel: layer.inputKernel,
        recurrentKernel: layer.recurrentKernel,
        bias: layer.bias,
        h: initial.h,
        c: initial.c,
      } satisfies LayerInputs,
      {},
    ) as [tf.Tensor2D];
    return hs.reshape([batch, steps, initial.h.shape[1]]);
  });
}

/**
 * One LSTM step of one layer as one op, the fused counterpart of `lstmInputProjection`
 * followed by `lstmCell`: same values and gradients from one registered kernel (which runs two
 * matMuls inside) and two Identity kernels keeping the weights for the gradient, instead of
 * the composed cell's 42 kernels forward (counted on wasm).
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
    const [h, c] = cellOp(
      {
        x,
        inputKernel: layer.inputKernel,
        recurrentKernel: layer.recurrentKernel,
        bias: layer.bias,
        h: state.h,
        c: state.c,
      } satisfies LayerInputs,
      {},
    ) as [tf.Tensor2D, tf.Tensor2D];
    return { h, c };
  });
}
