import * as tf from '@tensorflow/tfjs';
import { customGradient } from '@mann/core';
import {
  createStepScratch,
  memoryStepBackward,
  memoryStepForward,
  stepInterfaceSize,
} from './memory-step.js';
import type {
  StepScratch,
  MemoryStepGradients,
  MemoryStepOutputs,
  MemoryStepSpec,
  MemoryStepTape,
} from './memory-step.js';
import { copyRows, lstmCellBackward, lstmCellForward, rowView } from '@mann/core/fused';

// A whole NTM sequence with a one-layer LSTM controller as ONE TF.js op with a hand-written
// gradient. Per time step the only kernels are two small matMuls forward (the interface
// layer, and [h_t ; r_t] times the recurrent weights for the next step) and two backward; the
// LSTM gates, the clip and the memory step run on the values (`memory-step.ts`), and the weight
// gradients are two large matMuls over all steps at the end. `MemoryNetwork.run`'s per-step
// loop launches ~60-110 kernels a step even with a fused memory step.
//
// B batch, T steps, C controller units (gates 4C), R read heads of width W (reads RW = R W),
// H = R + Hw heads over N slots, F the interface size. Arrays over steps are [T, B, ...].

/** What {@link createSequenceOp} computes. */
export interface SequenceSpec {
  readonly memory: MemoryStepSpec;
  /** C, units of the LSTM controller. */
  readonly hidden: number;
  /** Controller outputs are clipped to +-clipValue before the interface and output (0: off). */
  readonly clipValue: number;
  /** Also pack the weightings w_t of every step into the output. */
  readonly traceWeights: boolean;
}

/**
 * The op's inputs, in order:
 * - `projected` [T, B, 4C]: x_t W_x + b, the input part of the LSTM pre-activations, time first;
 * - `recurrentKernel` [C + RW, 4C]: [W_h ; W_r], the LSTM weights of h_{t-1} and r_{t-1};
 * - `interfaceKernel` [C, F] and `interfaceBias` [F]: the interface layer;
 * - the initial state: h_0 and c_0 [B, C], M_0 [B, N, W], w^r_0 [B, R, N], w^w_0 [B, Hw, N]
 *   and r_0 [B, RW].
 */
export type SequenceInputs = [
  projected: tf.Tensor3D,
  recurrentKernel: tf.Tensor2D,
  interfaceKernel: tf.Tensor2D,
  interfaceBias: tf.Tensor1D,
  h0: tf.Tensor2D,
  c0: tf.Tensor2D,
  memory0: tf.Tensor3D,
  readWeights0: tf.Tensor3D,
  writeWeights0: tf.Tensor3D,
  reads0: tf.Tensor2D,
];

/** Width of one step's row of the packed output: [clip(h_t) ; r_t] and, traced, w_t. */
export function sequenceOutputSize(spec: SequenceSpec): number {
  const { width: w, slots: n, readHeads: r, writeHeads: hw } = spec.memory;
  return spec.hidden + r * w + (spec.traceWeights ? (r + hw) * n : 0);
}

/** `a` [rows, inner] times the tensor `b` [inner, cols], read back: one matMul kernel. */
function multiply(a: Float32Array, rows: number, b: tf.Tensor2D): Float32Array {
  const left = tf.tensor2d(a, [rows, b.shape[0]]);
  const product = tf.matMul(left, b);
  const values = product.dataSync() as Float32Array;
  left.dispose();
  product.dispose();
  return values;
}

/** Row-major [rows, cols] -> [cols, rows]. */
function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  }
  return out;
}

/** `count` consecutive views of `size` into one buffer. */
function views<T extends Float32Array | Float64Array>(buffer: T, count: number, size: number): T[] {
  return Array.from({ length: count }, (_, t) => buffer.subarray(t * size, (t + 1) * size) as T);
}

/**
 * Everything one sequence keeps between its forward and backward pass, in a few large buffers
 * for up to `capacity` steps (allocated once and reused by later sequences of the same batch
 * size and at most as many steps: per-step allocations of ~0.5 MB made the garbage collector a
 * fifth of the training step).
 */
class Arena {
  /** M_t for t = 0..T. */
  readonly memories: Float32Array[];
  /** w_t of all heads for t = 0..T. */
  readonly weights: Float32Array[];
  readonly outputs: MemoryStepOutputs[];
  readonly tapes: MemoryStepTape[];
  /** The raw interface vectors xi_t, [T][B, F]. */
  readonly interfaces: Float32Array[];
  /** sigma(i), sigma(f), tanh(g), sigma(o), [T][B, 4C]. */
  readonly gates: Float32Array[];
  /** c_t for t = 0..T. */
  readonly cells: Float32Array[];
  /** tanh(c_t), [T][B, C]. */
  readonly tanhCells: Float32Array[];
  /** [h_t ; r_t] for t = 0..T (entry t is the recurrent input of step t), [B, C + RW]. */
  readonly states: Float32Array;
  /** clip(h_t), [T, B, C]. */
  readonly clipped: Float32Array;
  /** dL/dxi_t, [T, B, F]. */
  readonly dInterfaces: Float32Array;
  /** dL/dr_t [B, RW] and dL/dw_T [B, H, N] of the backward pass. */
  readonly dReads: Float32Array;
  readonly dWeights: Float32Array;
  /** Two buffers of dL/dc_t [B, C], used in turn. */
  readonly dCells: [Float32Array, Float32Array];
  /** Two sets of memory-step gradients, used in turn. */
  readonly grads: [MemoryStepGradients, MemoryStepGradients];

  constructor(
    readonly spec: SequenceSpec,
    readonly batch: number,
    readonly capacity: number,
  ) {
    const { slots: N, width: W, readHeads: R, writeHeads: Hw, shiftRange: K } = spec.memory;
    const [B, T, C, H, S] = [batch, capacity, spec.hidden, R + Hw, 2 * K + 1];
    const F = stepInterfaceSize(spec.memory);
    this.memories = views(new Float32Array((T + 1) * B * N * W), T + 1, B * N * W);
    this.weights = views(new Float32Array((T + 1) * B * H * N), T + 1, B * H * N);
    const reads = views(new Float32Array(T * B * R * W), T, B * R * W);
    this.outputs = reads.map((r, t) => ({
      reads: r,
      memory: this.memories[t + 1] as Float32Array,
      weights: this.weights[t + 1] as Float32Array,
    }));
    const f64 = (size: number): Float64Array[] =>
      views(new Float64Array(T * B * size), T, B * size);
    const f32 = (size: number): Float32Array[] =>
      views(new Float32Array(T * B * size), T, B * size);
    const fields = {
      key: f64(H * W),
      keyNorm: f64(H),
      beta: f64(H),
      gate: f64(H),
      gamma: f64(H),
      shift: f64(H * S),
      erase: f64(Hw * W),
      rowNorm: f64(N),
      cosine: f32(H * N),
      content: f32(H * N),
      gated: f32(H * N),
      shifted: f32(H * N),
      logShifted: f32(H * N),
    };
    this.tapes = Array.from({ length: T }, (_, t) => {
      const tape = {} as Record<keyof typeof fields, Float32Array | Float64Array>;
      for (const [name, all] of Object.entries(fields)) {
        tape[name as keyof typeof fields] = all[t] as Float32Array | Float64Array;
      }
      return tape as unknown as MemoryStepTape;
    });
    this.interfaces = f32(F);
    this.gates = f32(4 * C);
    this.cells = views(new Float32Array((T + 1) * B * C), T + 1, B * C);
    this.tanhCells = f32(C);
    this.states = new Float32Array((T + 1) * B * (C + R * W));
    this.clipped = new Float32Array(T * B * C);
    this.dInterfaces = new Float32Array(T * B * F);
    const grads = (): MemoryStepGradients => ({
      interfaceVector: new Float32Array(B * F),
      memory: new Float32Array(B * N * W),
      previous: new Float32Array(B * H * N),
    });
    this.grads = [grads(), grads()];
    this.dCells = [new Float32Array(B * C), new Float32Array(B * C)];
    this.dReads = new Float32Array(B * R * W);
    this.dWeights = new Float32Array(B * H * N);
  }
}

/** The tensors the forward pass multiplies by, one matMul kernel per use. */
interface SequenceKernels {
  readonly recurrentKernel: tf.Tensor2D;
  readonly interfaceKernel: tf.Tensor2D;
  readonly interfaceBias: tf.Tensor1D;
}

/**
 * The forward pass over T steps, from the initial state already in `arena` (M_0, w_0,
 * c_0 and [h_0 ; r_0]): fills the arena and `output` [B, T, P].
 */
function forwardSequence(
  spec: SequenceSpec,
  arena: Arena,
  T: number,
  xw: Float32Array,
  kernels: SequenceKernels,
  work: StepScratch,
  output: Float32Array,
): void {
  const B = arena.batch;
  const { slots: N, readHeads: R, writeHeads: Hw, width: W } = spec.memory;
  const [C, H, RW, P] = [spec.hidden, R + Hw, R * W, sequenceOutputSize(spec)];
  const cellShape = { batch: B, units: C, clip: spec.clipValue > 0 ? spec.clipValue : Infinity };
  const { memories, weights, outputs, tapes, interfaces, gates, cells, tanhCells } = arena;
  const { states, clipped } = arena;
  let recurrent = multiply(states.subarray(0, B * (C + RW)), B, kernels.recurrentKernel);
  for (let t = 0; t < T; t++) {
    // the LSTM cell: z_t = x_t W_x + b + [h_{t-1} ; r_{t-1}] [W_h ; W_r]
    const hc = clipped.subarray(t * B * C, (t + 1) * B * C);
    const state = states.subarray((t + 1) * B * (C + RW), (t + 2) * B * (C + RW));
    lstmCellForward(cellShape, {
      z: { values: xw, offset: t * B * 4 * C },
      recurrent,
      prevCell: cells[t] as Float32Array,
      gates: gates[t] as Float32Array,
      cell: cells[t + 1] as Float32Array,
      tanhCell: tanhCells[t] as Float32Array,
      hidden: rowView(state, 0, C + RW),
      clipped: hc,
    });
    // the interface vector xi_t = clip(h_t) W_xi + b_xi, then the memory step
    const hcTensor = tf.tensor2d(hc, [B, C]);
    const xiTensor = tf.fused.matMul({
      a: hcTensor,
      b: kernels.interfaceKernel,
      bias: kernels.interfaceBias,
    });
    (interfaces[t] as Float32Array).set(xiTensor.dataSync() as Float32Array);
    hcTensor.dispose();
    xiTensor.dispose();
    const step = outputs[t] as MemoryStepOutputs;
    memoryStepForward(
      spec.memory,
      {
        interfaceVector: interfaces[t] as Float32Array,
        memory: memories[t] as Float32Array,
        previous: weights[t] as Float32Array,
      },
      step,
      tapes[t] as MemoryStepTape,
      work,
    );
    copyRows(B, RW, rowView(step.reads, 0, RW), rowView(state, C, C + RW));
    // output rows: [clip(h_t) ; r_t (; w_t)]
    copyRows(B, C, rowView(hc, 0, C), rowView(output, t * P, T * P));
    copyRows(B, RW, rowView(step.reads, 0, RW), rowView(output, t * P + C, T * P));
    if (spec.traceWeights) {
      copyRows(B, H * N, rowView(step.weights, 0, H * N), rowView(output, t * P + C + RW, T * P));
    }
    if (t + 1 < T) recurrent = multiply(state, B, kernels.recurrentKernel);
  }
}

/** What {@link backwardSequence} returns: gradients of the op's inputs, as arrays. */
interface SequenceGradients {
  /** dL/dz_t, [T, B, 4C]: the gradient of `projected`. */
  readonly dZ: Float32Array;
  /** dL/d[h_0 ; r_0], [B, C + RW]. */
  readonly dState0: Float32Array;
  /** dL/dc_0, dL/dM_0 (null: zeros), dL/dw_0 of all heads: arena buffers. */
  readonly dCell0: Float32Array;
  readonly dMemory0: Float32Array | null;
  readonly dWeights0: Float32Array;
}

/**
 * The backward pass over T steps, from dL/d(output) `dOut` [B, T, P]: back through the
 * memory step, the interface layer and the LSTM cell of every step, newest first. Leaves
 * dL/dxi_t in `arena.dInterfaces`.
 *
 * @param recurrentT - [W_h ; W_r]^T, [4C, C + RW]
 * @param interfaceT - W_xi^T, [F, C]
 */
function backwardSequence(
  spec: SequenceSpec,
  arena: Arena,
  T: number,
  dOut: Float32Array,
  recurrentT: tf.Tensor2D,
  interfaceT: tf.Tensor2D,
  work: StepScratch,
): SequenceGradients {
  const B = arena.batch;
  const { slots: N, readHeads: R, writeHeads: Hw, width: W } = spec.memory;
  const [C, H, RW, P] = [spec.hidden, R + Hw, R * W, sequenceOutputSize(spec)];
  const [G, F] = [4 * C, stepInterfaceSize(spec.memory)];
  const cellShape = { batch: B, units: C, clip: spec.clipValue > 0 ? spec.clipValue : Infinity };
  const { memories, weights, outputs, tapes, interfaces, gates, cells, tanhCells } = arena;
  const { states, dInterfaces } = arena;
  const dZ = new Float32Array(T * B * G);
  let dNextZ: Float32Array | null = null; // dL/dz_{t+1}, [B, 4C]
  let dCell = (arena.dCells[T % 2] as Float32Array).fill(0); // dL/dc_t from step t + 1
  let dMemory: Float32Array | null = null; // dL/dM_t from step t + 1
  let dWeights = arena.dWeights.fill(0); // dL/dw_t from step t + 1
  const dReads = arena.dReads;
  for (let t = T - 1; t >= 0; t--) {
    // [h_t ; r_t] feeds z_{t+1}
    const dState = dNextZ === null ? null : multiply(dNextZ, B, recurrentT);
    for (let b = 0; b < B; b++) {
      const row = (b * T + t) * P;
      for (let j = 0; j < RW; j++) {
        dReads[b * RW + j] =
          (dOut[row + C + j] as number) +
          (dState === null ? 0 : (dState[b * (C + RW) + C + j] as number));
      }
      if (spec.traceWeights) {
        for (let j = 0; j < H * N; j++) {
          const at = b * H * N + j;
          dWeights[at] = (dWeights[at] as number) + (dOut[row + C + RW + j] as number);
        }
      }
    }
    const grads = arena.grads[t % 2] as MemoryStepGradients;
    const dInterface = dInterfaces.subarray(t * B * F, (t + 1) * B * F);
    memoryStepBackward(
      spec.memory,
      {
        interfaceVector: interfaces[t] as Float32Array,
        memory: memories[t] as Float32Array,
        previous: weights[t] as Float32Array,
      },
      outputs[t] as MemoryStepOutputs,
      tapes[t] as MemoryStepTape,
      { reads: dReads, memory: dMemory, weights: dWeights },
      { ...grads, interfaceVector: dInterface },
      work,
    );
    dMemory = grads.memory;
    dWeights = grads.previous;
    const dz = dZ.subarray(t * B * G, (t + 1) * B * G);
    const dPreviousCell = arena.dCells[t % 2] as Float32Array;
    lstmCellBackward(cellShape, {
      gates: gates[t] as Float32Array,
      prevCell: cells[t] as Float32Array,
      tanhCell: tanhCells[t] as Float32Array,
      hidden: rowView(states, (t + 1) * B * (C + RW), C + RW),
      dClipped: multiply(dInterface, B, interfaceT),
      dOutput: rowView(dOut, t * P, T * P),
      dHidden: dState && rowView(dState, 0, C + RW),
      dCell,
      dz,
      dPrevCell: dPreviousCell,
    });
    dNextZ = dz;
    dCell = dPreviousCell;
  }
  return {
    dZ,
    dState0: multiply(dNextZ as Float32Array, B, recurrentT),
    dCell0: dCell,
    dMemory0: dMemory,
    dWeights0: dWeights,
  };
}

/**
 * Creates the sequence op for `spec`: {@link SequenceInputs} to the packed output
 * [B, T, sequenceOutputSize(spec)], with the gradient of every input. The same values and
 * gradients as `MemoryNetwork.run` with a one-layer `LstmController` and an `NtmMemory` (up to
 * float32 rounding): `z_t = x_t W_x + b + h_{t-1} W_h + r_{t-1} W_r`, LSTM gates [i, f, g, o],
 * `c_t = s(f) c_{t-1} + s(i) tanh(g)`, `h_t = s(o) tanh(c_t)`, `xi_t = clip(h_t) W_xi + b_xi`,
 * then the NTM memory step on xi_t.
 */
export function createSequenceOp(spec: SequenceSpec): (...inputs: SequenceInputs) => tf.Tensor3D {
  const { slots: N, width: W, readHeads: R, writeHeads: Hw } = spec.memory;
  const H = R + Hw;
  const C = spec.hidden;
  const G = 4 * C;
  const RW = R * W;
  const F = stepInterfaceSize(spec.memory);
  const P = sequenceOutputSize(spec);
  // arenas whose backward pass has run, ready for the next sequence
  const free: Arena[] = [];
  const work = createStepScratch(spec.memory);

  const op = customGradient<SequenceInputs>((inputs, save) => {
    const [projected, recurrentKernel, interfaceKernel, interfaceBias] = inputs;
    const [h0, c0, memory0, readWeights0, writeWeights0, reads0] = inputs.slice(4) as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor3D,
      tf.Tensor3D,
      tf.Tensor3D,
      tf.Tensor2D,
    ];
    // the weights as the backward pass will see them: the inputs may be disposed by then (the
    // forward usually runs in a tidy), saved tensors are kept by the engine
    save([recurrentKernel, interfaceKernel]);
    const [T, B] = projected.shape;
    // the smallest free arena that fits, else a new one
    let index = -1;
    free.forEach((a, i) => {
      const best = free[index];
      if (a.batch === B && a.capacity >= T && (!best || a.capacity < best.capacity)) index = i;
    });
    const arena = index >= 0 ? (free.splice(index, 1)[0] as Arena) : new Arena(spec, B, T);
    // the initial state
    const { states, clipped, dInterfaces } = arena;
    (arena.memories[0] as Float32Array).set(memory0.dataSync() as Float32Array);
    const w0 = arena.weights[0] as Float32Array;
    copyRows(
      B,
      R * N,
      rowView(readWeights0.dataSync() as Float32Array, 0, R * N),
      rowView(w0, 0, H * N),
    );
    copyRows(
      B,
      Hw * N,
      rowView(writeWeights0.dataSync() as Float32Array, 0, Hw * N),
      rowView(w0, R * N, H * N),
    );
    (arena.cells[0] as Float32Array).set(c0.dataSync() as Float32Array);
    copyRows(B, C, rowView(h0.dataSync() as Float32Array, 0, C), rowView(states, 0, C + RW));
    copyRows(B, RW, rowView(reads0.dataSync() as Float32Array, 0, RW), rowView(states, C, C + RW));
    const output = new Float32Array(B * T * P);
    forwardSequence(
      spec,
      arena,
      T,
      projected.dataSync() as Float32Array,
      { recurrentKernel, interfaceKernel, interfaceBias },
      work,
      output,
    );

    let used = false;
    return {
      value: tf.tensor3d(output, [B, T, P]),
      gradFunc: (dy, saved) => {
        if (used) throw new Error('the gradient of a fused NTM sequence can only be taken once');
        used = true;
        const recurrentT = tf.transpose(saved[0] as tf.Tensor2D); // [4C, C + RW]
        const interfaceT = tf.transpose(saved[1] as tf.Tensor2D); // [F, C]
        const back = backwardSequence(
          spec,
          arena,
          T,
          dy.dataSync() as Float32Array,
          recurrentT,
          interfaceT,
          work,
        );
        recurrentT.dispose();
        interfaceT.dispose();
        const result = tf.tidy(() => {
          // weight gradients over all steps: [h_{t-1} ; r_{t-1}]^T dz_t and clip(h_t)^T dxi_t
          const stateRows = transposed(states.subarray(0, T * B * (C + RW)), T * B, C + RW);
          const dRecurrentKernel = tf.matMul(
            tf.tensor2d(stateRows, [C + RW, T * B]),
            tf.tensor2d(back.dZ, [T * B, G]),
          );
          const dInterfaceKernel = tf.matMul(
            tf.tensor2d(transposed(clipped.subarray(0, T * B * C), T * B, C), [C, T * B]),
            tf.tensor2d(dInterfaces.subarray(0, T * B * F), [T * B, F]),
          );
          const dInterfaceBias = new Float32Array(F);
          for (let j = 0; j < T * B; j++) {
            for (let k = 0; k < F; k++) {
              dInterfaceBias[k] =
                (dInterfaceBias[k] as number) + (dInterfaces[j * F + k] as number);
            }
          }
          const dH0 = new Float32Array(B * C);
          const dReads0 = new Float32Array(B * RW);
          copyRows(B, C, rowView(back.dState0, 0, C + RW), rowView(dH0, 0, C));
          copyRows(B, RW, rowView(back.dState0, C, C + RW), rowView(dReads0, 0, RW));
          const dRead0 = new Float32Array(B * R * N);
          const dWrite0 = new Float32Array(B * Hw * N);
          copyRows(B, R * N, rowView(back.dWeights0, 0, H * N), rowView(dRead0, 0, R * N));
          copyRows(B, Hw * N, rowView(back.dWeights0, R * N, H * N), rowView(dWrite0, 0, Hw * N));
          return [
            tf.tensor3d(back.dZ, [T, B, G]),
            dRecurrentKernel,
            dInterfaceKernel,
            tf.tensor1d(dInterfaceBias),
            tf.tensor2d(dH0, [B, C]),
            tf.tensor2d(back.dCell0.slice(), [B, C]),
            tf.tensor3d(back.dMemory0?.slice() ?? new Float32Array(B * N * W), [B, N, W]),
            tf.tensor3d(dRead0, [B, R, N]),
            tf.tensor3d(dWrite0, [B, Hw, N]),
            tf.tensor2d(dReads0, [B, RW]),
          ];
        });
        // the tensors made from the arena's buffers are disposed (the cpu backend keeps the
        // arrays it is given), so the arena can serve the next sequence
        free.push(arena);
        if (free.length > 2) {
          // keep the two largest: they serve every shorter sequence too
          let smallest = 0;
          free.forEach((a, i) => {
            if (a.capacity < (free[smallest] as Arena).capacity) smallest = i;
          });
          free.splice(smallest, 1);
        }
        return result;
      },
    };
  });
  return (...inputs) => op(...inputs) as tf.Tensor3D;
}
