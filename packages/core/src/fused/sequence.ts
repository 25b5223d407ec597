import * as tf from '@tensorflow/tfjs';
import { LstmController } from '../controllers/lstm-controller.js';
import type { LstmState } from '../controllers/lstm.js';
import type { SequenceBatch } from '../data.js';
import type { ParameterArrays } from '../interfaces.js';
import { checkShape, MannError } from '../errors.js';
import type { MemoryNetwork, MemoryNetworkState, SequenceHook } from '../models/memory-network.js';
import { defineFusedOp, type FusedInputs } from './fused-op.js';
import { lstmCellBackward, lstmCellForward } from './lstm-cell.js';
import { columnSums, createProducts, swapAxes, transposed, type Products } from './products.js';
import { copyRows, rowView } from './rows.js';
import { PooledArrays } from './scratch.js';
import { maskedBitsOnArrays } from '../training/loss.js';

// A whole memory-network sequence with a one-layer LSTM controller as ONE TF.js kernel with a
// hand-written gradient (`defineFusedOp`), for any memory whose step runs on typed arrays
// (a {@link SequenceMemory}: the NTM's and the DNC's fused steps). Per step:
// `z_t = x_t W_x + b + [h_{t-1} ; r_{t-1}] [W_h ; W_r]`, the LSTM cell (`lstm-cell.ts`),
// `xi_t = clip(h_t) W_xi + b_xi`, the memory step on xi_t giving r_t; then over all steps
// `y_t = [clip(h_t) ; r_t] W_y + b_y`. The products are `createProducts`' (WebAssembly SIMD
// where available), so a step launches no TF.js kernel at all; backward runs the steps newest
// first and the weight gradients are products over all steps at the end. Values and gradients
// are those of `MemoryNetwork.run`'s step loop, to float32 rounding.
//
// B batch, T steps, I inputs, C controller units (G = 4C), RW read units, S = C + RW,
// F the interface size, O outputs. Internal arrays are time first, [T, B, ...].

/** One call of a {@link SequenceMemory}: its steps forward and backward, on typed arrays. */
export interface SequenceMemoryRun {
  /**
   * Step t forward (t = 0, 1, ... T - 1 in order): the raw interface vector xi_t [B, F] (left
   * unchanged until {@link SequenceMemoryRun.release}) to the read vectors r_t [B, RW], read
   * by the caller before the next call. The memory state stays inside the run.
   */
  forward(t: number, interfaceVector: Float32Array): Float32Array;
  /**
   * Step t backward (t = T - 1 down to 0 in order, after the forward pass): dL/dr_t [B, RW]
   * (the gradients of the memory state come from the run's own step t + 1) to dL/dxi_t
   * [B, F], read by the caller before the next call.
   */
  backward(t: number, dReads: Float32Array): Float32Array;
  /**
   * After step 0's backward: dL/d(each initial-state input of the op), by input name, each of
   * its input's size (the arrays become the caller's: copies of what the run reuses).
   */
  initialGradients(): Record<string, Float32Array>;
  /** Gives back what the run holds; called once, after its last use. */
  release(): void;
}

/** A memory the whole-sequence op can drive: a fused memory step and its initial state. */
export interface SequenceMemory {
  /** F, the raw interface vector's width. */
  readonly interfaceSize: number;
  /** RW, all read vectors side by side. */
  readonly readSize: number;
  /**
   * The op's inputs that carry the initial memory state `state` of a batch, by name (checked
   * against the batch; no name of the driver's own inputs, see {@link sequenceInputNames}).
   */
  stateInputs(state: unknown, batch: number): Record<string, tf.Tensor>;
  /**
   * Starts a call from the values of those inputs; `state` is the one given to stateInputs, or
   * an {@link InitialArrays}' `state` on arrays.
   */
  begin(state: unknown, inputs: FusedInputs, batch: number, steps: number): SequenceMemoryRun;
  /**
   * Optional: the initial state of a batch of `batch` on arrays, from the parameters' values,
   * for training without TF.js ({@link sequenceLossAndGradients}); undefined (or absent) when
   * this memory's configuration has none. It must give the values `stateInputs` would carry for
   * the memory's `initialState` and `initialReads`.
   */
  initialArrays?(batch: number, parameters: ParameterArrays): InitialArrays | undefined;
}

/** A batch's initial memory state on arrays ({@link SequenceMemory.initialArrays}). */
export interface InitialArrays {
  /** What {@link SequenceMemory.begin} receives as the state. */
  readonly state: unknown;
  /**
   * `reads0`, r_0 [B, RW], and the value of every state input by name, as `stateInputs`
   * names them (each of its input's size). Read-only: a memory may hand out shared arrays.
   */
  readonly values: Readonly<Record<string, Float32Array>>;
  /**
   * From dL/d(`reads0`) and dL/d(each state input), adds the gradients of the parameters they
   * come from with `parameters.addGradient`.
   */
  backward(gradients: Readonly<Record<string, Float32Array>>, parameters: ParameterArrays): void;
}

/** The driver's own inputs, in the order of its gradients. */
const INPUT_NAMES = [
  'inputs',
  'inputKernel',
  'recurrentKernel',
  'lstmBias',
  'interfaceKernel',
  'interfaceBias',
  'outputKernel',
  'outputBias',
  'h0',
  'c0',
  'reads0',
] as const;

/** The names a {@link SequenceMemory}'s state inputs must avoid. */
export const sequenceInputNames: readonly string[] = INPUT_NAMES;

/** What one call shares between its forward and backward pass. */
interface SequenceContext {
  readonly memory: SequenceMemory;
  readonly state: unknown;
  /** The controller-output clip (Infinity: none). */
  readonly limit: number;
  /** B, T, I, C, O */
  readonly shape: readonly [number, number, number, number, number];
  /** Whether a gradient tape records the call (else the forward pass releases the tape). */
  readonly recording: boolean;
  /** Whether the backward pass computes dL/d(inputs) (training on arrays needs none). */
  readonly inputGradient: boolean;
  call?: SequenceCall;
}

/** One call's arrays: the weights, the controller's tape and the memory run. */
interface SequenceCall {
  readonly run: SequenceMemoryRun;
  readonly arrays: PooledArrays;
  /** x_t, [T, B, I] */
  readonly x: Float32Array;
  /** W_x [I, G] and [W_h ; W_r] [S, G] */
  readonly inputKernel: Float32Array;
  readonly stateKernel: Float32Array;
  readonly interfaceKernel: Float32Array;
  readonly outputKernel: Float32Array;
  /** [h_t ; r_t] for t = 0..T, [T + 1, B, S] */
  readonly states: Float32Array;
  /** c_t for t = 0..T, [T + 1, B, C] */
  readonly cells: Float32Array;
  /** clip(h_t), [T, B, C]; [clip(h_t) ; r_t], [T, B, S] */
  readonly clipped: Float32Array;
  readonly packed: Float32Array;
  /** s(i), s(f), tanh(g), s(o), [T, B, G]; tanh(c_t), [T, B, C]; xi_t, [T, B, F] */
  readonly gates: Float32Array;
  readonly tanhCells: Float32Array;
  readonly interfaces: Float32Array;
}

/** The forward pass: fills the call's tape and returns the logits [T, B, O]. */
function sequenceForward(
  context: SequenceContext,
  call: SequenceCall,
  products: Products,
  read: FusedInputs,
): Float32Array {
  const [B, T, I, C, O] = context.shape;
  const { memory, limit } = context;
  const [G, F, RW] = [4 * C, memory.interfaceSize, memory.readSize];
  const S = C + RW;
  const { run, arrays, states, cells, clipped, packed, gates, tanhCells, interfaces } = call;
  const cellShape = { batch: B, units: C, clip: limit };
  const interfaceBias = read.floats('interfaceBias');
  // x_t W_x + b for every step at once
  const inputKernel = products.keep(call.inputKernel, I, G);
  const xw = products.times(
    call.x,
    T * B,
    inputKernel,
    arrays.floats(T * B * G),
    read.floats('lstmBias'),
  );
  const stateKernel = products.keep(call.stateKernel, S, G);
  const interfaceKernel = products.keep(call.interfaceKernel, C, F);
  const recurrent = arrays.floats(B * G); // [h_{t-1} ; r_{t-1}] [W_h ; W_r], step by step
  for (let t = 0; t < T; t++) {
    // the LSTM cell: z_t = x_t W_x + b + [h_{t-1} ; r_{t-1}] [W_h ; W_r]
    const hc = clipped.subarray(t * B * C, (t + 1) * B * C);
    const state = states.subarray((t + 1) * B * S, (t + 2) * B * S);
    lstmCellForward(cellShape, {
      z: { values: xw, offset: t * B * G },
      recurrent: products.times(
        states.subarray(t * B * S, (t + 1) * B * S),
        B,
        stateKernel,
        recurrent,
      ),
      prevCell: cells.subarray(t * B * C, (t + 1) * B * C),
      gates: gates.subarray(t * B * G, (t + 1) * B * G),
      cell: cells.subarray((t + 1) * B * C, (t + 2) * B * C),
      tanhCell: tanhCells.subarray(t * B * C, (t + 1) * B * C),
      hidden: rowView(state, 0, S),
      clipped: hc,
    });
    // the interface vector xi_t = clip(h_t) W_xi + b_xi, then the memory step
    const xi = interfaces.subarray(t * B * F, (t + 1) * B * F);
    products.times(hc, B, interfaceKernel, xi, interfaceBias);
    const reads = run.forward(t, xi);
    copyRows(B, RW, rowView(reads, 0, RW), rowView(state, C, S));
    copyRows(B, C, rowView(hc, 0, C), rowView(packed, t * B * S, S));
    copyRows(B, RW, rowView(reads, 0, RW), rowView(packed, t * B * S + C, S));
  }
  // the output layer over all steps at once
  const outputKernel = products.keep(call.outputKernel, S, O);
  return products.times(packed, T * B, outputKernel, undefined, read.floats('outputBias'));
}

/**
 * dL/d(every input of the op), by name, from dL/d(logits) [T, B, O], each of its input's size
 * (`inputs` batch first, as the op takes them; none without `context.inputGradient`).
 */
function sequenceBackward(
  context: SequenceContext,
  call: SequenceCall,
  products: Products,
  dLogits: Float32Array,
): Record<string, Float32Array> {
  const [B, T, I, C, O] = context.shape;
  const { memory, limit } = context;
  const [G, F, RW] = [4 * C, memory.interfaceSize, memory.readSize];
  const S = C + RW;
  const { run, arrays, states, cells, clipped, packed, gates, tanhCells } = call;
  const cellShape = { batch: B, units: C, clip: limit };
  // Every array of this pass but the gradients handed to TF.js comes from the call's pool.
  const kept = (values: Float32Array, rows: number, cols: number) =>
    products.keep(transposed(values, rows, cols, arrays.floats(rows * cols)), cols, rows);
  // through the output layer: dL/d[clip(h_t) ; r_t] = dL/dy W_y^T
  const outputT = kept(call.outputKernel, S, O);
  const dOut = products.times(dLogits, T * B, outputT, arrays.floats(T * B * S));
  const stateT = kept(call.stateKernel, S, G);
  const interfaceT = kept(call.interfaceKernel, C, F);
  const dZ = arrays.floats(T * B * G);
  const dXi = arrays.floats(T * B * F);
  const dReads = arrays.floats(B * RW);
  const dClipped = arrays.floats(B * C);
  const dCell = arrays.floats(B * C).fill(0); // dL/dc_t, then dL/dc_{t-1} in place
  // dL/d[h_t ; r_t] through z_{t+1}; one array, overwritten once step t has read it
  const dStateArray = arrays.floats(B * S);
  let dState: Float32Array | null = null;
  for (let t = T - 1; t >= 0; t--) {
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < RW; j++) {
        dReads[b * RW + j] =
          (dOut[(t * B + b) * S + C + j] as number) +
          (dState ? (dState[b * S + C + j] as number) : 0);
      }
    }
    const dxi = run.backward(t, dReads);
    dXi.set(dxi, t * B * F);
    const dz = dZ.subarray(t * B * G, (t + 1) * B * G);
    lstmCellBackward(cellShape, {
      gates: gates.subarray(t * B * G, (t + 1) * B * G),
      prevCell: cells.subarray(t * B * C, (t + 1) * B * C),
      tanhCell: tanhCells.subarray(t * B * C, (t + 1) * B * C),
      hidden: rowView(states, (t + 1) * B * S, S),
      dClipped: products.times(dxi, B, interfaceT, dClipped), // dxi W_xi^T
      dOutput: rowView(dOut, t * B * S, S),
      dHidden: dState && rowView(dState, 0, S),
      dCell,
      dz,
      dPrevCell: dCell,
    });
    dState = products.times(dz, B, stateT, dStateArray); // dz [W_h ; W_r]^T
  }
  const d0 = dState as Float32Array;
  const dh0 = new Float32Array(B * C);
  const dReads0 = new Float32Array(B * RW);
  copyRows(B, C, rowView(d0, 0, S), rowView(dh0, 0, C));
  copyRows(B, RW, rowView(d0, C, S), rowView(dReads0, 0, RW));
  // the weight gradients: sums over all steps of x^T dz, [h ; r]^T dz, clip(h)^T dxi, ...
  const dStateKernel = products.transposedTimes(states, T * B, S, dZ, G, arrays.floats(S * G));
  const dInputKernel = new Float32Array((I + RW) * G); // [dW_x ; dW_r]
  products.transposedTimes(call.x, T * B, I, dZ, G, dInputKernel);
  dInputKernel.set(dStateKernel.subarray(C * G), I * G);
  const grads: Record<string, Float32Array> = {
    inputKernel: dInputKernel,
    recurrentKernel: dStateKernel.slice(0, C * G),
    lstmBias: columnSums(dZ, T * B, G),
    interfaceKernel: products.transposedTimes(clipped, T * B, C, dXi, F),
    interfaceBias: columnSums(dXi, T * B, F),
    outputKernel: products.transposedTimes(packed, T * B, S, dLogits, O),
    outputBias: columnSums(dLogits, T * B, O),
    h0: dh0,
    c0: dCell.slice(),
    reads0: dReads0,
  };
  if (context.inputGradient) {
    const dx = products.times(dZ, T * B, kept(call.inputKernel, I, G), arrays.floats(T * B * I));
    grads.inputs = swapAxes(dx, T, B, I);
  }
  return { ...grads, ...run.initialGradients() };
}

/** Gives back the call's arrays and its memory run (its tape is unusable after). */
function releaseCall(call: SequenceCall): void {
  call.arrays.release();
  call.run.release();
}

/** A call's arrays and memory run, from the op's inputs (the weights, h_0, c_0, r_0, ...). */
function openCall(context: SequenceContext, read: FusedInputs): SequenceCall {
  const [B, T, I, C] = context.shape;
  const { memory } = context;
  const [G, RW] = [4 * C, memory.readSize];
  const S = C + RW;
  const arrays = new PooledArrays();
  // [W_h ; W_r]: the LSTM's recurrent kernel, then its input kernel's rows for r_{t-1}
  const lstmInputKernel = read.floats('inputKernel');
  const stateKernel = arrays.floats(S * G);
  stateKernel.set(read.floats('recurrentKernel'));
  stateKernel.set(lstmInputKernel.subarray(I * G, (I + RW) * G), C * G);
  const states = arrays.floats((T + 1) * B * S);
  copyRows(B, C, rowView(read.floats('h0'), 0, C), rowView(states, 0, S));
  copyRows(B, RW, rowView(read.floats('reads0'), 0, RW), rowView(states, C, S));
  const cells = arrays.floats((T + 1) * B * C);
  cells.set(read.floats('c0'));
  return {
    run: memory.begin(context.state, read, B, T),
    arrays,
    x: swapAxes(read.floats('inputs'), B, T, I),
    inputKernel: lstmInputKernel.subarray(0, I * G),
    stateKernel,
    interfaceKernel: read.floats('interfaceKernel'),
    outputKernel: read.floats('outputKernel'),
    states,
    cells,
    clipped: arrays.floats(T * B * C),
    packed: arrays.floats(T * B * S),
    gates: arrays.floats(T * B * G),
    tanhCells: arrays.floats(T * B * C),
    interfaces: arrays.floats(T * B * memory.interfaceSize),
  };
}

/**
 * The forward pass of a call on `read`: the logits [T, B, O] and the call, whose tape
 * {@link sequenceBackward} uses (released here if the pass fails).
 */
function callForward(
  context: SequenceContext,
  read: FusedInputs,
): { call: SequenceCall; logits: Float32Array } {
  const call = openCall(context, read);
  const products = createProducts();
  try {
    return { call, logits: sequenceForward(context, call, products, read) };
  } catch (error) {
    releaseCall(call);
    throw error;
  } finally {
    products.release();
  }
}

/** The backward pass of a call from dL/d(logits) [T, B, O]; releases the call. */
function callBackward(
  context: SequenceContext,
  call: SequenceCall,
  dLogits: Float32Array,
): Record<string, Float32Array> {
  const products = createProducts();
  try {
    return sequenceBackward(context, call, products, dLogits);
  } finally {
    products.release();
    releaseCall(call);
  }
}

/** The op's context: the call's and the shape of every input, for the gradients' tensors. */
interface OpContext extends SequenceContext {
  readonly shapes: Readonly<Record<string, readonly number[]>>;
}

const sequenceOp = defineFusedOp<OpContext>({
  name: 'MannFusedSequence',
  forward(read, context) {
    const [B, T, , , O] = context.shape;
    const { call, logits } = callForward(context, read);
    if (context.recording) context.call = call;
    else releaseCall(call);
    return [{ values: swapAxes(logits, T, B, O), shape: [B, T, O] }];
  },
  backward([dLogits], context) {
    const { call } = context;
    if (!call) {
      throw new MannError(
        'fused sequence: gradient requested without a forward pass under a tape, or twice',
      );
    }
    // The tape node keeps the context until the gradient computation ends: let go of the call.
    context.call = undefined;
    const [B, T, , , O] = context.shape;
    const grads = callBackward(context, call, swapAxes(dLogits as Float32Array, B, T, O));
    return Object.fromEntries(
      Object.entries(grads).map(([name, grad]) => {
        const tensor = tf.tensor(grad, [...(context.shapes[name] as readonly number[])]);
        return [name, () => tensor];
      }),
    );
  },
});

/** {@link FusedInputs} over arrays by name. */
function arrayInputs(values: Readonly<Record<string, Float32Array>>): FusedInputs {
  const floats = (name: string): Float32Array => {
    const found = values[name];
    if (!found) throw new Error(`fused sequence on arrays: no input named '${name}'`);
    return found;
  };
  return {
    has: (name) => values[name] !== undefined,
    floats,
    ints: (name) => Int32Array.from(floats(name)),
    tensor: () => {
      throw new MannError('fused sequence on arrays: a memory asked for a tensor input');
    },
  };
}

/**
 * The loss of `network.run` on `batch` (masked bits per sequence) and its gradient with
 * respect to every parameter, computed on arrays alone, without a TF.js kernel: the same
 * forward and backward passes as the op, from the parameters' values in `parameters`, the
 * initial state from `memory.initialArrays` (h_0 = c_0 = 0, as `LstmController.initialState`).
 * Gradients go to `parameters.addGradient`. Undefined, with nothing added, when the memory
 * gives no initial state on arrays. For the training threads, whose contract is agreement with
 * one thread to float32 rounding: the loss is summed in float64 and rounded once (the TF.js
 * loss rounds every op), the initial state comes from the memory's own code. With `outputClip`
 * > 0 the loss is that of the logits clipped to +-outputClip (as `tf.clipByValue`).
 */
export function sequenceLossAndGradients(
  network: MemoryNetwork,
  memory: SequenceMemory,
  batch: SequenceBatch,
  parameters: ParameterArrays,
  outputClip = 0,
): number | undefined {
  const { batchSize: B, steps: T, inputWidth: I, outputWidth: O } = batch;
  const layer = (network.controller as LstmController).layers[0];
  if (!layer) throw new MannError('fused sequence: needs a one-layer LSTM controller');
  if (I !== network.inputSize || O !== network.outputSize) {
    throw new MannError(
      `batch has inputWidth ${I} and outputWidth ${O}; the model takes ${network.inputSize} and gives ${network.outputSize}`,
    );
  }
  if (T === 0) throw new MannError('inputs must have at least one time step, got T = 0');
  const initial = memory.initialArrays?.(B, parameters);
  if (!initial) return undefined;
  const C = layer.hiddenSize;
  // the network's weights, by the op's input names
  const weights: [string, tf.Variable][] = [
    ['inputKernel', layer.inputKernel],
    ['recurrentKernel', layer.recurrentKernel],
    ['lstmBias', layer.bias],
    ['interfaceKernel', network.interfaceLayer.kernel],
    ['interfaceBias', network.interfaceLayer.bias],
    ['outputKernel', network.outputLayer.kernel],
    ['outputBias', network.outputLayer.bias],
  ];
  const read = arrayInputs({
    ...initial.values,
    ...Object.fromEntries(weights.map(([name, v]) => [name, parameters.value(v)])),
    inputs: batch.inputs,
    h0: new Float32Array(B * C),
    c0: new Float32Array(B * C),
  });
  const context: SequenceContext = {
    memory,
    state: initial.state,
    limit: network.clipValue > 0 ? network.clipValue : Infinity,
    shape: [B, T, I, C, O],
    recording: true,
    inputGradient: false,
  };
  const { call, logits } = callForward(context, read);
  let loss: number;
  const dLogits = new Float32Array(logits.length);
  try {
    const outputs = swapAxes(logits, T, B, O);
    // y = clip(z) where asked, as tf.clipByValue: dL/dz = dL/dy where -c <= z <= c, else 0
    const limit = Math.fround(outputClip);
    const clipped =
      outputClip > 0 ? outputs.map((z) => Math.min(Math.max(z, -limit), limit)) : outputs;
    loss = maskedBitsOnArrays(clipped, batch, dLogits);
    if (outputClip > 0) {
      for (let i = 0; i < outputs.length; i++) {
        const z = outputs[i] as number;
        if (!(z >= -limit && z <= limit)) dLogits[i] = 0;
      }
    }
  } catch (error) {
    releaseCall(call);
    throw error;
  }
  const grads = callBackward(context, call, swapAxes(dLogits, B, T, O));
  for (const [name, v] of weights) parameters.addGradient(v, grads[name] as Float32Array);
  initial.backward(grads, parameters);
  return loss;
}

/**
 * The output logits [B, T, O] of `network.run(inputs)` from `initial` for a one-layer LSTM
 * controller and `memory`, as one op differentiable with respect to the network's parameters,
 * the inputs and every tensor of the initial state.
 */
export function fusedSequence(
  network: MemoryNetwork,
  memory: SequenceMemory,
  inputs: tf.Tensor3D,
  initial: MemoryNetworkState,
): tf.Tensor3D {
  const [batch, steps, inputSize] = inputs.shape;
  const layer = (network.controller as LstmController).layers[0];
  const lstm = (initial.controller as LstmState).layers?.[0];
  if (!layer || !lstm) throw new MannError('fused sequence: needs a one-layer LSTM controller');
  const units = layer.hiddenSize;
  checkShape('initialState h', lstm.h, [batch, units], '[B, hidden]');
  checkShape('initialState c', lstm.c, [batch, units], '[B, hidden]');
  checkShape('initialState reads', initial.reads, [batch, memory.readSize], '[B, readSize]');
  const stateInputs = memory.stateInputs(initial.memory, batch);
  const clash = Object.keys(stateInputs).find((name) => sequenceInputNames.includes(name));
  if (clash) throw new MannError(`fused sequence: a memory state input is named '${clash}'`);
  const named: Record<string, tf.Tensor> = {
    inputs,
    inputKernel: layer.inputKernel,
    recurrentKernel: layer.recurrentKernel,
    lstmBias: layer.bias,
    interfaceKernel: network.interfaceLayer.kernel as tf.Tensor,
    interfaceBias: network.interfaceLayer.bias as tf.Tensor,
    outputKernel: network.outputLayer.kernel as tf.Tensor,
    outputBias: network.outputLayer.bias as tf.Tensor,
    h0: lstm.h,
    c0: lstm.c,
    reads0: initial.reads,
    ...stateInputs,
  };
  return sequenceOp(named, {
    shapes: Object.fromEntries(Object.entries(named).map(([name, t]) => [name, t.shape])),
    inputGradient: true,
    memory,
    state: initial.memory,
    limit: network.clipValue > 0 ? network.clipValue : Infinity,
    shape: [batch, steps, inputSize, units, network.outputSize],
    // Without a gradient tape (inference) nothing will run the backward pass: the forward
    // pass gives its arrays back itself. (Inside the kernel the engine reports the tape as off.)
    recording: tf.engine().isTapeOn(),
  })[0] as tf.Tensor3D;
}

/**
 * The {@link SequenceHook} of a memory network whose memory runs its steps on typed arrays:
 * `run` without traces takes {@link fusedSequence} when the controller is a one-layer LSTM.
 */
export function fusedSequenceHook(memory: SequenceMemory): SequenceHook {
  return {
    applies: (network, options) =>
      options.trace !== true &&
      network.controller instanceof LstmController &&
      network.controller.layers.length === 1,
    run: (network, inputs, initial) => fusedSequence(network, memory, inputs, initial),
    lossAndGradients: (network, batch, parameters, outputClip) =>
      sequenceLossAndGradients(network, memory, batch, parameters, outputClip),
  };
}
