import * as tf from '@tensorflow/tfjs';
import { MannError } from '@mann/core';
import type { DncState } from '../state.js';
import { isSparseLink } from '../sparse-link.js';
import {
  allocateOutputs,
  stepBackward,
  stepForward,
  type StepInputs,
  type StepOutputs,
  type InputGradients,
  type StepTape,
} from './memory-step.js';
import type { LinkArrays } from './link-pass.js';
import { copyRows, lstmCellBackward, lstmCellForward, rowView } from '@mann/core/fused';
import { addLinkGradient, isResidentLink, linkRecord, type LinkRecord } from './resident-link.js';
import type { FusedMemoryStep } from './step-op.js';
import { createProducts, type Products } from '@mann/core/fused';
import { PooledArrays, type Allocator } from '@mann/core/fused';
import type { LinkPass } from './link-pass.js';
import { defineFusedOp, releaseSimdRuntime, type SimdRuntime } from '@mann/core/fused';

// A whole DNC sequence with a one-layer LSTM controller as ONE TF.js kernel with a
// hand-written gradient (`defineFusedOp`): what `MemoryNetwork.run` computes step by step
// (~90 kernels a step forward and backward), with no kernel per step at all where WebAssembly
// SIMD is available (the recurrent product and the interface layer are SIMD products, see
// `@mann/core/fused`'s `createProducts`); the LSTM gates, the clip and the fused memory step
// run in plain JS and SIMD kernels, and the weight gradients are two products over all steps
// at the end. The per-call state lives in a `Sequence` record handed to top-level functions:
// closures made per call would make V8 re-optimise the hot callers on every training step.
//
// B batch, T steps, C controller units, RW = R W read units, S = C + RW, F the interface size.

/** The tensors of {@link fusedSequence}. */
export interface SequenceTensors {
  /** x_t for every step, time first, [T, B, I]. */
  readonly inputs: tf.Tensor3D;
  /** W_x, the LSTM's input kernel's rows for x, [I, 4C], and its bias b [4C]. */
  readonly inputKernel: tf.Tensor2D;
  readonly lstmBias: tf.Tensor1D;
  /** [W_h ; W_r], the LSTM weights of [h_{t-1} ; r_{t-1}], [S, 4C]. */
  readonly recurrent: tf.Tensor2D;
  /** W_xi [C, F] and b_xi [F]. */
  readonly interfaceKernel: tf.Tensor2D;
  readonly interfaceBias: tf.Tensor1D;
  /** W_y [S, O] and b_y [O], the output layer. */
  readonly outputKernel: tf.Tensor2D;
  readonly outputBias: tf.Tensor1D;
  /** h_0 and c_0, [B, C]. */
  readonly h0: tf.Tensor2D;
  readonly c0: tf.Tensor2D;
  /** r_0, [B, RW]. */
  readonly reads0: tf.Tensor2D;
  /** The memory state at t = 0. */
  readonly memory0: DncState;
}

/** Link arrays handed out as views of a runtime's memory. */
class ViewArrays implements Allocator {
  constructor(private readonly runtime: SimdRuntime) {}
  floats(size: number): Float32Array {
    return this.runtime.view(size, false); // a link: overwritten by the step that makes it
  }
  ints(): Int32Array {
    throw new Error('dense links have no columns');
  }
}

/** What one step of the sequence keeps for the backward pass. */
interface StepRecord {
  readonly inputs: StepInputs;
  readonly outputs: StepOutputs;
  readonly tape: StepTape;
  /** s(i), s(f), tanh(g), s(o), [B, 4C] */
  readonly gates: Float32Array;
  /** tanh(c_t), [B, C] */
  readonly tanhCell: Float32Array;
}

/** One call's sizes, arrays and tape. */
interface Sequence {
  readonly memoryStep: FusedMemoryStep;
  readonly steps: number;
  readonly batch: number;
  /** C */
  readonly units: number;
  /** The controller-output clip (Infinity: none). */
  readonly limit: number;
  readonly linkPass: LinkPass;
  /** The runtime holding the dense links, when they are resident. */
  readonly runtime: SimdRuntime | undefined;
  /** Pooled arrays of the tape, given back after the backward pass. */
  readonly arrays: PooledArrays;
  /** x_t, [T, B, I] */
  readonly x: Float32Array;
  /** I */
  readonly inputSize: number;
  /** W_x [I, 4C] and b [4C] */
  readonly inputKernel: Float32Array;
  readonly lstmBias: Float32Array;
  /** W_y [S, O] and b_y [O] */
  readonly outputKernel: Float32Array;
  readonly outputBias: Float32Array;
  /** O */
  readonly outputSize: number;
  /** [W_h ; W_r], [S, 4C] */
  readonly recurrent: Float32Array;
  /** W_xi [C, F] and b_xi [F] */
  readonly interfaceKernel: Float32Array;
  readonly interfaceBias: Float32Array;
  /** [h_t ; r_t] for t = 0..T, [T + 1, B, S] */
  readonly states: Float32Array;
  /** c_t for t = 0..T, [T + 1, B, C] */
  readonly cells: Float32Array;
  /** clip(h_t), [T, B, C] */
  readonly clipped: Float32Array;
  readonly records: StepRecord[];
  /** The link at t = 0 when it is resident (its gradient goes back there). */
  readonly linkRecord0: LinkRecord | null;
  /** dL/dL_T = 0 in the resident memory, updated in place step by step (dense, resident). */
  readonly linkGradient: Float32Array | null;
}

/** Gives the sequence's pooled arrays and link runtime back (its tape is unusable after). */
function releaseSequence(seq: Sequence): void {
  seq.arrays.release();
  if (seq.runtime) releaseSimdRuntime(seq.runtime);
}

/** Row-major [rows, cols] -> [cols, rows]. */
function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  }
  return out;
}

/** `values` [rows, cols] plus `bias` [cols] on every row, in place. */
function addBias(values: Float32Array, rows: number, bias: Float32Array): Float32Array {
  const cols = bias.length;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      values[r * cols + c] = (values[r * cols + c] as number) + (bias[c] as number);
  }
  return values;
}

/** Sums over the rows of [rows, cols]. */
function columnSums(values: Float32Array, rows: number, cols: number): Float32Array {
  const sums = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) sums[c] = (sums[c] as number) + (values[r * cols + c] as number);
  }
  return sums;
}

/**
 * The forward pass: fills the sequence's tape and returns [T, B, S] ([clip(h_t) ; r_t], what
 * the output layer reads).
 */
function sequenceForward(seq: Sequence, products: Products, memory0: StepInputs): Float32Array {
  const { memoryStep, steps: T, batch: B, units: C, limit, linkPass, arrays } = seq;
  const cellShape = { batch: B, units: C, clip: limit };
  const { spec } = memoryStep;
  const { readHeads: r, width: w, interfaceSize: F } = spec;
  const [G, RW] = [4 * C, r * w];
  const S = C + RW;
  const { states, cells, clipped, interfaceBias: bias } = seq;
  const output = new Float32Array(T * B * S);
  // x_t W_x + b for every step at once
  const xw = addBias(
    products.times(seq.x, T * B, products.keep(seq.inputKernel, seq.inputSize, G)),
    T * B,
    seq.lstmBias,
  );
  const recurrent = products.keep(seq.recurrent, S, G);
  const interfaceKernel = products.keep(seq.interfaceKernel, C, F);
  const linkArrays = seq.runtime ? new ViewArrays(seq.runtime) : arrays;
  let memoryInputs = memory0;
  for (let t = 0; t < T; t++) {
    // the LSTM cell: z_t = x_t W_x + b + [h_{t-1} ; r_{t-1}] [W_h ; W_r]
    const recurrentZ = products.times(states.subarray(t * B * S, (t + 1) * B * S), B, recurrent);
    const gates = arrays.floats(B * G);
    const tanhCell = arrays.floats(B * C);
    const hc = clipped.subarray(t * B * C, (t + 1) * B * C);
    const state = states.subarray((t + 1) * B * S, (t + 2) * B * S);
    lstmCellForward(cellShape, {
      z: { values: xw, offset: t * B * G },
      recurrent: recurrentZ,
      prevCell: cells.subarray(t * B * C, (t + 1) * B * C),
      gates,
      cell: cells.subarray((t + 1) * B * C, (t + 2) * B * C),
      tanhCell,
      hidden: rowView(state, 0, S),
      clipped: hc,
    });
    // the interface vector xi_t = clip(h_t) W_xi + b_xi, then the memory step
    const xi = products.times(hc, B, interfaceKernel);
    for (let b = 0; b < B; b++) {
      for (let f = 0; f < F; f++) xi[b * F + f] = (xi[b * F + f] as number) + (bias[f] as number);
    }
    const inputs: StepInputs = { ...memoryInputs, interfaceVector: xi };
    const outputs = allocateOutputs(spec, B, linkPass.allocate(B, linkArrays), arrays);
    const tape = stepForward(spec, linkPass, B, inputs, outputs, arrays);
    seq.records.push({ inputs, outputs, tape, gates, tanhCell });
    copyRows(B, RW, rowView(outputs.reads, 0, RW), rowView(state, C, S));
    copyRows(B, C, rowView(hc, 0, C), rowView(output, t * B * S, S));
    copyRows(B, RW, rowView(outputs.reads, 0, RW), rowView(output, t * B * S + C, S));
    memoryInputs = { ...outputs, interfaceVector: xi };
  }
  return output;
}

/** dL/d(every input of the op), in order, from dL/d(logits) [T, B, O]. */
function sequenceBackward(
  seq: Sequence,
  products: Products,
  dLogits: Float32Array,
  packed: Float32Array,
  linkShapes: readonly (readonly number[])[],
): tf.Tensor[] {
  const { memoryStep, steps: T, batch: B, units: C, limit, linkPass, arrays } = seq;
  const cellShape = { batch: B, units: C, clip: limit };
  const { spec } = memoryStep;
  const { slots: n, width: w, readHeads: r, writeHeads: h, interfaceSize: F } = spec;
  const [G, RW] = [4 * C, r * w];
  const S = C + RW;
  const { states, cells, clipped } = seq;
  const O = seq.outputSize;
  // through the output layer: dL/d[clip(h_t) ; r_t] = dL/dy W_y^T
  const dOut = products.times(
    dLogits,
    T * B,
    products.keep(transposed(seq.outputKernel, S, O), O, S),
  );
  const recurrentT = products.keep(transposed(seq.recurrent, S, G), G, S); // [4C, S]
  const interfaceT = products.keep(transposed(seq.interfaceKernel, C, F), F, C); // [F, C]
  const dZ = new Float32Array(T * B * G);
  const dXi = new Float32Array(T * B * F);
  const dReads = new Float32Array(B * RW);
  let dCell = new Float32Array(B * C);
  let dState: Float32Array | null = null; // dL/d[h_t ; r_t] through z_{t+1}
  let dMemory: Omit<InputGradients, 'interfaceVector' | 'link'> & { link: Float32Array | null } = {
    memory: new Float32Array(B * n * w),
    usage: new Float32Array(B * n),
    precedence: new Float32Array(B * h * n),
    readWeights: new Float32Array(B * r * n),
    link: seq.linkGradient,
  };
  const noWrites = new Float32Array(B * h * n); // w^w_t only feeds the usage, gradient stopped
  const noAllocation = new Float32Array(B * h * n);
  for (let t = T - 1; t >= 0; t--) {
    const step = seq.records[t] as StepRecord;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < RW; j++) {
        dReads[b * RW + j] =
          (dOut[(t * B + b) * S + C + j] as number) +
          (dState ? (dState[b * S + C + j] as number) : 0);
      }
    }
    const grads = stepBackward(
      spec,
      linkPass,
      step.inputs,
      step.outputs,
      step.tape,
      { reads: dReads, ...dMemory, writeWeights: noWrites, allocation: noAllocation },
      arrays,
    );
    dXi.set(grads.interfaceVector, t * B * F);
    dMemory = grads;
    const back = products.times(grads.interfaceVector, B, interfaceT); // dxi W_xi^T
    const dz = dZ.subarray(t * B * G, (t + 1) * B * G);
    const dPrevCell = new Float32Array(B * C);
    const hidden = states.subarray((t + 1) * B * S, (t + 2) * B * S);
    lstmCellBackward(cellShape, {
      gates: step.gates,
      prevCell: cells.subarray(t * B * C, (t + 1) * B * C),
      tanhCell: step.tanhCell,
      hidden: rowView(hidden, 0, S),
      dClipped: back,
      dOutput: rowView(dOut, t * B * S, S),
      dHidden: dState && rowView(dState, 0, S),
      dCell,
      dz,
      dPrevCell,
    });
    dCell = dPrevCell;
    dState = products.times(dz, B, recurrentT); // dz [W_h ; W_r]^T
  }
  const d0 = dState as Float32Array;
  const dh0 = new Float32Array(B * C);
  const dReads0 = new Float32Array(B * RW);
  copyRows(B, C, rowView(d0, 0, S), rowView(dh0, 0, C));
  copyRows(B, RW, rowView(d0, C, S), rowView(dReads0, 0, RW));
  const dBias = new Float32Array(F);
  for (let row = 0; row < T * B; row++) {
    for (let f = 0; f < F; f++) dBias[f] = (dBias[f] as number) + (dXi[row * F + f] as number);
  }
  // a copy when it is a view of the resident links' memory, which is about to be reused
  const dLink0 = seq.runtime
    ? (dMemory.link as Float32Array).slice()
    : (dMemory.link as Float32Array);
  let linkGrads: tf.Tensor[];
  if (seq.linkRecord0) {
    addLinkGradient(seq.linkRecord0, dLink0);
    linkGrads = [tf.zeros([])];
  } else {
    linkGrads = [tf.tensor(dLink0, [...(linkShapes[0] as number[])])];
    if (linkShapes.length === 2) linkGrads.push(tf.zeros([...(linkShapes[1] as number[])]));
  }
  const I = seq.inputSize;
  const inputKernelT = products.keep(transposed(seq.inputKernel, I, G), G, I);
  return [
    tf.tensor3d(products.times(dZ, T * B, inputKernelT), [T, B, I]),
    // the weight gradients: sums over all steps of x^T dz, [h ; r]^T dz, clip(h)^T dxi, ...
    tf.tensor2d(products.transposedTimes(seq.x, T * B, I, dZ, G), [I, G]),
    tf.tensor1d(columnSums(dZ, T * B, G)),
    tf.tensor2d(products.transposedTimes(states, T * B, S, dZ, G), [S, G]),
    tf.tensor2d(products.transposedTimes(clipped, T * B, C, dXi, F), [C, F]),
    tf.tensor1d(dBias),
    tf.tensor2d(products.transposedTimes(packed, T * B, S, dLogits, O), [S, O]),
    tf.tensor1d(columnSums(dLogits, T * B, O)),
    tf.tensor2d(dh0, [B, C]),
    tf.tensor2d(dCell, [B, C]),
    tf.tensor2d(dReads0, [B, RW]),
    // copies: these arrays go back to the pool, and a tensor may keep its array (cpu)
    tf.tensor3d(dMemory.memory.slice(), [B, n, w]),
    tf.tensor2d(dMemory.usage.slice(), [B, n]),
    tf.tensor3d(dMemory.precedence.slice(), [B, h, n]),
    tf.tensor3d(dMemory.readWeights.slice(), [B, r, n]),
    tf.zeros([B, h, n]),
    ...linkGrads,
  ];
}

/**
 * The output logits of every step before the output clip, [T, B, O]:
 * `y_t = [clip(h_t) ; r_t] W_y + b_y`. Differentiable with respect to every tensor of
 * `tensors` (the link too: a tensor link gets a tensor gradient, a resident one sends it back
 * to the steps that made it; w^w_0 gets none, as in every step).
 *
 * @param clip - the controller-output clip (0 disables it)
 */
export function fusedSequence(
  memoryStep: FusedMemoryStep,
  clip: number,
  tensors: SequenceTensors,
): tf.Tensor3D {
  const [T, B, I] = tensors.inputs.shape;
  const G = tensors.inputKernel.shape[1];
  const O = tensors.outputKernel.shape[1];
  const { memory0: m0, ...weights } = tensors;
  const link0 = m0.link;
  const linkRecord0 = isResidentLink(link0) ? linkRecord(link0) : null;
  const linkInputs: tf.Tensor[] =
    linkRecord0 !== null
      ? [link0 as tf.Tensor]
      : isSparseLink(link0)
        ? [link0.values, link0.columns]
        : [link0];
  const [link, linkColumns] = linkInputs;
  const inputs: Record<string, tf.Tensor> = {
    ...weights,
    memory: m0.memory,
    usage: m0.usage,
    precedence: m0.precedence,
    readWeights: m0.readWeights,
    writeWeights: m0.writeWeights,
    link: link as tf.Tensor,
    ...(linkColumns ? { linkColumns } : {}),
  };
  return sequenceOp(inputs, {
    memoryStep,
    clip,
    shape: [T, B, I, G, O],
    // Without a gradient tape (inference) nothing will run the backward pass: the forward
    // pass gives its arrays back itself. (Inside the kernel the engine reports the tape as off.)
    recording: tf.engine().isTapeOn(),
    linkRecord0,
    linkShapes: linkInputs.map((t) => t.shape),
  })[0] as tf.Tensor3D;
}

/** What one call of the sequence op shares between its forward and backward pass. */
interface SequenceContext {
  readonly memoryStep: FusedMemoryStep;
  readonly clip: number;
  /** T, B, I, 4C, O */
  readonly shape: readonly [number, number, number, number, number];
  readonly recording: boolean;
  readonly linkRecord0: LinkRecord | null;
  readonly linkShapes: readonly (readonly number[])[];
  seq?: Sequence;
  packed?: Float32Array;
}

/** The names of the op's inputs, in the order of {@link sequenceBackward}'s gradients. */
const INPUT_NAMES = (
  'inputs inputKernel lstmBias recurrent interfaceKernel interfaceBias outputKernel outputBias ' +
  'h0 c0 reads0 memory usage precedence readWeights writeWeights link linkColumns'
).split(' ');

const sequenceOp = defineFusedOp<SequenceContext>({
  name: 'MannDncFusedSequence',
  forward(args, context) {
    const { memoryStep, clip, recording, linkRecord0 } = context;
    const [T, B, I, G, O] = context.shape;
    const read = (name: string): Float32Array => args.floats(name);
    const { spec } = memoryStep;
    const C = G / 4;
    const S = C + spec.readHeads * spec.width;
    let link: LinkArrays = linkRecord0
      ? linkRecord0.arrays
      : args.has('linkColumns')
        ? { values: read('link'), columns: args.ints('linkColumns') }
        : { values: read('link'), columns: null };
    const resident = memoryStep.residentLinks(B, T);
    let linkGradient: Float32Array | null = null;
    if (resident) {
      // every step's link in the runtime's memory, L_0 copied in
      const values = resident.runtime.view(link.values.length, false);
      values.set(link.values);
      link = { values, columns: null };
      linkGradient = resident.runtime.view(link.values.length);
    }
    const seq: Sequence = {
      memoryStep,
      steps: T,
      batch: B,
      units: C,
      limit: clip > 0 ? clip : Infinity,
      linkPass: resident?.pass ?? memoryStep.linkPass,
      runtime: resident?.runtime,
      arrays: new PooledArrays(),
      x: read('inputs'),
      inputSize: I,
      inputKernel: read('inputKernel'),
      lstmBias: read('lstmBias'),
      recurrent: read('recurrent'),
      interfaceKernel: read('interfaceKernel'),
      interfaceBias: read('interfaceBias'),
      outputKernel: read('outputKernel'),
      outputBias: read('outputBias'),
      outputSize: O,
      states: new Float32Array((T + 1) * B * S),
      cells: new Float32Array((T + 1) * B * C),
      clipped: new Float32Array(T * B * C),
      records: [],
      linkRecord0,
      linkGradient,
    };
    copyRows(B, C, rowView(read('h0'), 0, C), rowView(seq.states, 0, S));
    copyRows(B, S - C, rowView(read('reads0'), 0, S - C), rowView(seq.states, C, S));
    seq.cells.set(read('c0'));
    const memory0: StepInputs = {
      interfaceVector: new Float32Array(0),
      memory: read('memory'),
      usage: read('usage'),
      precedence: read('precedence'),
      readWeights: read('readWeights'),
      writeWeights: read('writeWeights'),
      link,
    };
    const products = createProducts();
    let packed: Float32Array;
    let logits: Float32Array;
    try {
      packed = sequenceForward(seq, products, memory0);
      // the output layer over all steps at once
      const outputKernel = products.keep(seq.outputKernel, S, O);
      logits = addBias(products.times(packed, T * B, outputKernel), T * B, seq.outputBias);
    } finally {
      products.release();
      if (!recording) releaseSequence(seq);
    }
    Object.assign(context, { seq, packed });
    return [{ values: logits, shape: [T, B, O] }];
  },
  backward([dLogits], context) {
    const { seq, packed, linkShapes } = context;
    if (!seq || !packed) {
      throw new MannError('fused DNC sequence: gradient requested before the forward pass ran');
    }
    // The tape node keeps the context until the gradient computation ends: let go of the arrays.
    Object.assign(context, { seq: undefined, packed: undefined });
    const products = createProducts();
    try {
      const grads = sequenceBackward(seq, products, dLogits as Float32Array, packed, linkShapes);
      return Object.fromEntries(grads.map((grad, i) => [INPUT_NAMES[i] as string, () => grad]));
    } finally {
      products.release();
      releaseSequence(seq);
    }
  },
});
