import * as tf from '@tensorflow/tfjs';
import { defineFusedOp, type FusedInputs } from './fused-op.js';
import { checkShape, MannError } from '../errors.js';
import type { LstmLayerState } from '../controllers/lstm.js';
import { lstmCellBackward, lstmCellForward } from './lstm-cell.js';
import { columnSums, createProducts, swapAxes, transposed } from './products.js';
import { rowView } from './rows.js';
import { PooledArrays } from './scratch.js';

// Fused LSTM ops with hand-written gradients, registered with `defineFusedOp` (a kernel and its
// gradient, as TF.js registers its own ops): the same values and gradients as the composed
// reference (`lstmInputProjection` + `lstmCell`). Both run a layer over T steps (T = 1 for the
// cell) like the whole-sequence driver (`sequence.ts`), on its building blocks: x_t W_x + b for
// all steps as one product, per step the recurrent product h_{t-1} W_h and the cell
// (`lstm-cell.ts`, no clip), backward per step the cell's gradient and dz_t W_h^T, and the
// weight gradients as products over all steps at the end (`createProducts`: WebAssembly SIMD
// where available, so no TF.js kernel runs inside the op). B batch, T steps, I inputs, H units
// (G = 4H); internal arrays are time first, [T, B, ...].

/** The tensors of one LSTM layer the fused ops read (an `LstmLayer`'s variables, or any). */
export interface LstmLayerTensors {
  /** W_x, [I, 4H] */
  readonly inputKernel: tf.Tensor;
  /** W_h, [H, 4H] */
  readonly recurrentKernel: tf.Tensor;
  /** b, [4H] */
  readonly bias: tf.Tensor;
}

/** What the forward pass keeps for the gradient. */
interface LayerTape {
  readonly arrays: PooledArrays;
  /** B, T, I, H */
  readonly shape: readonly [number, number, number, number];
  /** x_t, [T, B, I] */
  readonly x: Float32Array;
  /** h_t and c_t for t = 0..T, [T + 1, B, H] */
  readonly hiddens: Float32Array;
  readonly cells: Float32Array;
  /** s(i), s(f), tanh(g), s(o), [T, B, G]; tanh(c_t), [T, B, H] */
  readonly gates: Float32Array;
  readonly tanhCells: Float32Array;
}

/** What a call shares between its forward and backward pass. */
interface LstmContext {
  /** T */
  readonly steps: number;
  /** Whether a gradient tape records the call (else the forward pass releases the tape). */
  readonly recording: boolean;
  tape?: LayerTape;
}

/** The inputs of both ops, by name; the weights are kept for the gradient. */
type LayerInputs = Readonly<
  Record<'x' | 'inputKernel' | 'recurrentKernel' | 'bias' | 'h' | 'c', tf.Tensor>
>;

const SAVED_WEIGHTS = ['inputKernel', 'recurrentKernel'] as const;

/** The cell of a layer: no clip. */
const cellShape = (batch: number, units: number) => ({ batch, units, clip: Infinity });

/** The forward pass over T steps; x is [B * T, I] (batch first). */
function layerForward(inputs: FusedInputs, steps: number): LayerTape {
  const inputKernel = inputs.floats('inputKernel');
  const bias = inputs.floats('bias');
  const G = bias.length;
  const [H, I, T] = [G / 4, inputKernel.length / G, steps];
  const input = inputs.floats('x');
  const B = input.length / (T * I);
  const x = swapAxes(input, B, T, I); // a copy, time first
  const arrays = new PooledArrays();
  const tape: LayerTape = {
    arrays,
    shape: [B, T, I, H],
    x,
    hiddens: arrays.floats((T + 1) * B * H),
    cells: arrays.floats((T + 1) * B * H),
    gates: arrays.floats(T * B * G),
    tanhCells: arrays.floats(T * B * H),
  };
  const { hiddens, cells, gates, tanhCells } = tape;
  hiddens.set(inputs.floats('h'));
  cells.set(inputs.floats('c'));
  const products = createProducts();
  try {
    const xw = products.times(x, T * B, products.keep(inputKernel, I, G), undefined, bias);
    const recurrentKernel = products.keep(inputs.floats('recurrentKernel'), H, G);
    for (let t = 0; t < T; t++) {
      const [state, next] = [t * B * H, (t + 1) * B * H];
      const hidden = hiddens.subarray(next, next + B * H);
      lstmCellForward(cellShape(B, H), {
        z: { values: xw, offset: t * B * G },
        recurrent: products.times(hiddens.subarray(state, next), B, recurrentKernel),
        prevCell: cells.subarray(state, next),
        gates: gates.subarray(t * B * G, (t + 1) * B * G),
        cell: cells.subarray(next, next + B * H),
        tanhCell: tanhCells.subarray(state, next),
        hidden: rowView(hidden, 0, H),
        clipped: hidden, // no clip: clip(h_t) is h_t, written to the same place
      });
    }
  } catch (error) {
    arrays.release();
    throw error;
  } finally {
    products.release();
  }
  return tape;
}

/** The tape of a call, once: a second gradient of the same call is an error. */
function takeTape(context: LstmContext, op: string): LayerTape {
  const { tape } = context;
  if (!tape) throw new MannError(`${op}: the gradient of a call can only be taken once`);
  context.tape = undefined;
  return tape;
}

/** Keeps the tape for the gradient under a tape, else gives its arrays back. */
function keepTape(context: LstmContext, tape: LayerTape): void {
  if (context.recording) context.tape = tape;
  else tape.arrays.release();
}

/**
 * Gradients of every input of a layer by name: x [B * T, I] (batch first), W_x, W_h, b, h_0,
 * c_0, from dL/dh_t [T, B, H] and `dLastCell`, dL/dc_T from outside (the cell op's second
 * output), or null.
 */
function layerBackward(
  tape: LayerTape,
  dHiddens: Float32Array,
  dLastCell: Float32Array | null,
  saved: Readonly<Record<string, tf.Tensor>>,
): Record<string, () => tf.Tensor> {
  const [B, T, I, H] = tape.shape;
  const G = 4 * H;
  const { arrays, x, hiddens, cells, gates, tanhCells } = tape;
  const products = createProducts();
  try {
    const inputKernel = saved.inputKernel?.dataSync() as Float32Array;
    const recurrentKernel = saved.recurrentKernel?.dataSync() as Float32Array;
    const recurrentT = products.keep(transposed(recurrentKernel, H, G), G, H);
    const dZ = arrays.floats(T * B * G);
    const dCell = arrays.floats(B * H); // dL/dc_t, then dL/dc_{t-1} in place
    if (dLastCell) dCell.set(dLastCell);
    else dCell.fill(0);
    let dState: Float32Array | null = null; // dL/dh_t through z_{t+1}
    for (let t = T - 1; t >= 0; t--) {
      const [state, next] = [t * B * H, (t + 1) * B * H];
      const dz = dZ.subarray(t * B * G, (t + 1) * B * G);
      lstmCellBackward(cellShape(B, H), {
        gates: gates.subarray(t * B * G, (t + 1) * B * G),
        prevCell: cells.subarray(state, next),
        tanhCell: tanhCells.subarray(state, next),
        hidden: rowView(hiddens, next, H),
        dClipped: dHiddens.subarray(state, next),
        dOutput: null,
        dHidden: dState && rowView(dState, 0, H),
        dCell,
        dz,
        dPrevCell: dCell,
      });
      dState = products.times(dz, B, recurrentT); // dz_t W_h^T
    }
    const dx = products.times(dZ, T * B, products.keep(transposed(inputKernel, I, G), G, I));
    const grads: Record<string, tf.Tensor> = {
      x: tf.tensor2d(swapAxes(dx, T, B, I), [B * T, I]),
      inputKernel: tf.tensor2d(products.transposedTimes(x, T * B, I, dZ, G), [I, G]),
      recurrentKernel: tf.tensor2d(
        products.transposedTimes(hiddens.subarray(0, T * B * H), T * B, H, dZ, G),
        [H, G],
      ),
      bias: tf.tensor1d(columnSums(dZ, T * B, G)),
      h: tf.tensor2d(dState as Float32Array, [B, H]),
      c: tf.tensor2d(dCell.slice(), [B, H]),
    };
    return Object.fromEntries(Object.entries(grads).map(([name, grad]) => [name, () => grad]));
  } finally {
    products.release();
    arrays.release();
  }
}

/**
 * A whole layer: x is [B * T, I] (batch first) with B given by h_0 [B, H]; h_t for every step,
 * [B * T, H]. No TF.js kernel inside (with SIMD products).
 */
const sequenceOp = defineFusedOp<LstmContext>({
  name: 'MannLstmSequence',
  save: SAVED_WEIGHTS,
  forward(inputs, context) {
    const tape = layerForward(inputs, context.steps);
    const [B, T, , H] = tape.shape;
    const hiddens = swapAxes(tape.hiddens.subarray(B * H), T, B, H);
    keepTape(context, tape);
    return [{ values: hiddens, shape: [B * T, H] }];
  },
  backward([dHiddens], context, saved) {
    const tape = takeTape(context, 'lstmLayerSequence');
    const [B, T, , H] = tape.shape;
    return layerBackward(tape, swapAxes(dHiddens as Float32Array, B, T, H), null, saved);
  },
});

/** One step: x [B, I] to h' and c', each [B, H]: the layer over T = 1. */
const cellOp = defineFusedOp<LstmContext>({
  name: 'MannLstmCell',
  save: SAVED_WEIGHTS,
  forward(inputs, context) {
    const tape = layerForward(inputs, 1);
    const [B, , , H] = tape.shape;
    const h = tape.hiddens.slice(B * H);
    const c = tape.cells.slice(B * H);
    keepTape(context, tape);
    return [
      { values: h, shape: [B, H] },
      { values: c, shape: [B, H] },
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
 * h_0 and c_0) to `lstmInputProjection` followed by `lstmCell` looped over t, as one kernel
 * (and the Identity kernels keeping the weights for the gradient) whatever T, none backward.
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
      { steps, recording: tf.engine().isTapeOn() },
    ) as [tf.Tensor2D];
    return hs.reshape([batch, steps, initial.h.shape[1]]);
  });
}

/**
 * One LSTM step of one layer as one op, the fused counterpart of `lstmInputProjection`
 * followed by `lstmCell`: same values and gradients from one registered kernel and two
 * Identity kernels keeping the weights for the gradient, none backward, instead of the composed
 * cell's 42 kernels forward and 40 backward (counted on wasm).
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
      { steps: 1, recording: tf.engine().isTapeOn() },
    ) as [tf.Tensor2D, tf.Tensor2D];
    return { h, c };
  });
}
