import { CONTENT_EPSILON } from '@mann/core';
import type { KeyActivation, NtmMemoryConfig, StrengthActivation } from '../config.js';
import {
  addressHead,
  addressHeadBackward,
  headScratch,
  softmax,
  type HeadAddress,
  type HeadGradients,
} from './head-addressing.js';
import type { HeadScratch } from './head-addressing.js';
import { rowPasses } from './memory-passes.js';
import type { MemoryPasses } from './memory-passes.js';

// One NTM memory step, forward and backward, on the values (row-major arrays) rather than as
// TF.js ops. At the paper's sizes (B 16, N 128, W 20, one read and one write head) a step takes
// ~0.2 ms forward and ~0.2 ms backward here, against ~100 kernel launches forward and ~200
// backward for the composed ops (~20-50 us of overhead each on wasm). The arithmetic follows
// the composed reference op by op (core's `contentWeights`, `addressing.ts`, `memory-ops.ts`),
// so the two agree to float32 rounding.
//
// Heads: H = R + Hw, the R read heads first. A step runs in phases over the whole batch: the
// passes over the memory (N W operations per head: `memory-passes.ts`, on the kernel layer's row
// kernels and erase-and-write) and the per-head addressing (N per head,
// `head-addressing.ts`).

/** Sizes and activations of a fused memory step; the batch size comes from the inputs. */
export interface MemoryStepSpec {
  /** N */
  readonly slots: number;
  /** W */
  readonly width: number;
  /** R >= 1 */
  readonly readHeads: number;
  /** Hw >= 0 */
  readonly writeHeads: number;
  /** k: shifts -k..+k, S = 2k + 1 <= N */
  readonly shiftRange: number;
  readonly keyActivation: KeyActivation;
  readonly strengthActivation: StrengthActivation;
}

/** The {@link MemoryStepSpec} of a memory config. */
export function memoryStepSpec(config: NtmMemoryConfig): MemoryStepSpec {
  return {
    slots: config.memorySlots,
    width: config.memoryWidth,
    readHeads: config.readHeads,
    writeHeads: config.writeHeads,
    shiftRange: config.shiftRange,
    keyActivation: config.keyActivation,
    strengthActivation: config.strengthActivation,
  };
}

/** The inputs of one step, row-major, batch first. */
export interface MemoryStepInputs {
  /** The raw interface vector (before the activations), [B, interfaceSize]. */
  readonly interfaceVector: Float32Array;
  /** M_{t-1}, [B, N, W]. */
  readonly memory: Float32Array;
  /** w_{t-1} of all heads, read heads first, [B, H, N]. */
  readonly previous: Float32Array;
}

/** The outputs of one step, row-major, batch first. */
export interface MemoryStepOutputs {
  /** r_t, all read vectors side by side, [B, R * W]. */
  readonly reads: Float32Array;
  /** M_t, [B, N, W]. */
  readonly memory: Float32Array;
  /** w_t of all heads, read heads first, [B, H, N]. */
  readonly weights: Float32Array;
}

/**
 * The intermediate values the forward pass keeps for the backward pass (with the inputs and
 * outputs); row-major, batch first. Buffers the caller allocates ({@link allocateStepTape})
 * and may reuse once the backward pass has run.
 */
export interface MemoryStepTape {
  /** k after its activation, [B, H, W]. */
  readonly key: Float64Array;
  /** |k| = sqrt(sum k^2 + eps), beta, g and gamma after their activations, each [B, H]. */
  readonly keyNorm: Float64Array;
  readonly beta: Float64Array;
  readonly gate: Float64Array;
  readonly gamma: Float64Array;
  /** s, softmax over the shifts, [B, H, S]. */
  readonly shift: Float64Array;
  /** e = sigmoid(raw erase), [B, Hw, W]. */
  readonly erase: Float64Array;
  /** |M[i]| = sqrt(sum M[i]^2 + eps), [B, N]. */
  readonly rowNorm: Float64Array;
  /** cos(k, M[i]), w_c, w_g, w_s and log(w_s + eps), each [B, H, N]. */
  readonly cosine: Float64Array;
  readonly content: Float64Array;
  readonly gated: Float64Array;
  readonly shifted: Float64Array;
  readonly logShifted: Float64Array;
}

/** Gradients of a step's inputs, shaped like {@link MemoryStepInputs}. */
export interface MemoryStepGradients {
  readonly interfaceVector: Float32Array;
  readonly memory: Float32Array;
  readonly previous: Float32Array;
}

/** Buffers for the tape of one step of `batch`. */
export function allocateStepTape(spec: MemoryStepSpec, batch: number): MemoryStepTape {
  const { slots: n, width: w, readHeads: r, writeHeads: hw } = spec;
  const h = r + hw;
  return {
    key: new Float64Array(batch * h * w),
    keyNorm: new Float64Array(batch * h),
    beta: new Float64Array(batch * h),
    gate: new Float64Array(batch * h),
    gamma: new Float64Array(batch * h),
    shift: new Float64Array(batch * h * (2 * spec.shiftRange + 1)),
    erase: new Float64Array(batch * hw * w),
    rowNorm: new Float64Array(batch * n),
    cosine: new Float64Array(batch * h * n),
    content: new Float64Array(batch * h * n),
    gated: new Float64Array(batch * h * n),
    shifted: new Float64Array(batch * h * n),
    logShifted: new Float64Array(batch * h * n),
  };
}

/** Buffers for the outputs of one step of `batch`. */
export function allocateStepOutputs(spec: MemoryStepSpec, batch: number): MemoryStepOutputs {
  const { slots: n, width: w, readHeads: r, writeHeads: hw } = spec;
  return {
    reads: new Float32Array(batch * r * w),
    memory: new Float32Array(batch * n * w),
    weights: new Float32Array(batch * (r + hw) * n),
  };
}

/** Buffers of one batch size, see {@link StepScratch.buffers}. */
export interface BatchBuffers {
  readonly batch: number;
  /** a_h of the write heads, gathered from the interface vector, [B, Hw, W]. */
  readonly add: Float32Array;
  /** dL/dw of every head, then of the sharpening logits, then of w_c, [B, H, N]. */
  readonly dW: Float64Array;
  /** dL/d(k_h . M[i]), [B, H, N]. */
  readonly dDot: Float64Array;
  /** dL/d|M[i]| / |M[i]|, summed over the heads, [B, N]. */
  readonly scale: Float64Array;
  /** dL/dk [B, H, W]; dL/de and dL/da [B, Hw, W]. */
  readonly dKey: Float64Array;
  readonly dErase: Float64Array;
  readonly dAdd: Float64Array;
}

/**
 * What {@link memoryStepForward} and {@link memoryStepBackward} work with besides their
 * arguments: the memory passes (SIMD or JS) and scratch buffers, reused from call to call (the
 * functions are synchronous, so one per spec serves every call; allocating per step made the
 * garbage collector a tenth of the training step).
 */
export interface StepScratch {
  readonly passes: MemoryPasses;
  /** [N] */
  readonly slots: Float64Array;
  readonly head: HeadScratch;
  /** dL/dbeta, dL/dg, dL/dgamma, dL/d|k| of one head. */
  readonly headGrads: Float64Array;
  /** The buffers for `batch` (reallocated when the batch size changes). */
  buffers(batch: number): BatchBuffers;
}

/**
 * Allocates the {@link StepScratch} of `spec`, with the memory passes on SIMD row kernels
 * where WebAssembly SIMD is available and W is a multiple of 4, else on the JS ones.
 */
export function createStepScratch(spec: MemoryStepSpec): StepScratch {
  const { slots: n, width: w, readHeads: r, writeHeads: hw } = spec;
  const h = r + hw;
  let current: BatchBuffers | undefined;
  return {
    passes: rowPasses(n, w, r, hw),
    slots: new Float64Array(n),
    head: headScratch(n, 2 * spec.shiftRange + 1),
    headGrads: new Float64Array(4),
    buffers(batch) {
      if (current?.batch !== batch) {
        current = {
          batch,
          add: new Float32Array(batch * hw * w),
          dW: new Float64Array(batch * h * n),
          dDot: new Float64Array(batch * h * n),
          scale: new Float64Array(batch * n),
          dKey: new Float64Array(batch * h * w),
          dErase: new Float64Array(batch * hw * w),
          dAdd: new Float64Array(batch * hw * w),
        };
      }
      return current;
    },
  };
}

/** Gathers a_h of every write head from the interface vectors into `add` [B, Hw, W]. */
function gatherAdd(spec: MemoryStepSpec, x: Float32Array, batch: number, add: Float32Array): void {
  const { width: W, readHeads: R, writeHeads: Hw, shiftRange: K } = spec;
  const I = stepInterfaceSize(spec);
  const A = W + 2 * K + 4;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < Hw; h++) {
      const from = b * I + (R + Hw) * A + 2 * W * h + W;
      add.set(x.subarray(from, from + W), (b * Hw + h) * W);
    }
  }
}

/** Width of the interface vector of `spec`: the layout of `headLayout` in `heads.ts`. */
export function stepInterfaceSize(spec: MemoryStepSpec): number {
  const { width: w, readHeads: r, writeHeads: hw } = spec;
  return (r + hw) * (w + 2 * spec.shiftRange + 4) + 2 * hw * w;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** log(1 + e^x) without overflow. */
const softplus = (x: number): number =>
  x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));

/**
 * The activations of batch element b's head parameters, from its raw interface vector:
 * k (none or tanh) and |k|, beta (softplus or oneplus), g (sigmoid), s (softmax), gamma
 * (oneplus) for every head, e (sigmoid) for every write head. Kept out of the step function:
 * V8 compiles the step's loops better without it.
 */
function activateHeads(
  spec: MemoryStepSpec,
  x: Float32Array,
  b: number,
  tape: MemoryStepTape,
): void {
  const { width: W, readHeads: R, writeHeads: Hw, shiftRange: K } = spec;
  const H = R + Hw;
  const S = 2 * K + 1;
  const A = W + S + 3;
  const xBase = b * stepInterfaceSize(spec);
  const { key, keyNorm, beta, gate, gamma, shift, erase } = tape;
  const tanhKey = spec.keyActivation === 'tanh';
  const betaOffset = spec.strengthActivation === 'oneplus' ? 1 : 0;
  for (let h = 0; h < H; h++) {
    const bh = b * H + h;
    const field = xBase + h * A;
    let sq = 0;
    for (let c = 0; c < W; c++) {
      const raw = x[field + c] as number;
      const k = tanhKey ? Math.tanh(raw) : raw;
      key[bh * W + c] = k;
      sq += k * k;
    }
    keyNorm[bh] = Math.sqrt(sq + CONTENT_EPSILON);
    beta[bh] = softplus(x[field + W] as number) + betaOffset;
    gate[bh] = sigmoid(x[field + W + 1] as number);
    for (let j = 0; j < S; j++) shift[bh * S + j] = x[field + W + 2 + j] as number;
    softmax(shift, bh * S, shift, bh * S, S);
    gamma[bh] = 1 + softplus(x[field + W + 2 + S] as number);
  }
  for (let h = 0; h < Hw; h++) {
    const field = xBase + H * A + 2 * W * h;
    for (let c = 0; c < W; c++) erase[(b * Hw + h) * W + c] = sigmoid(x[field + c] as number);
  }
}

/** A {@link HeadAddress} for the step's heads, its per-head fields set by the caller. */
function headAddress(
  spec: MemoryStepSpec,
  tape: MemoryStepTape,
  previous: Float32Array,
  weights: Float32Array,
  shift: Float64Array,
): HeadAddress {
  return {
    slots: spec.slots,
    shiftRange: spec.shiftRange,
    tape,
    previous,
    weights,
    shift,
    at: 0,
    shiftAt: 0,
    beta: 0,
    gate: 0,
    gamma: 0,
  };
}

/**
 * Forward pass of one NTM memory step, in the order of `NtmMemory.step`: the heads'
 * activations; for every head content addressing on M_{t-1}, interpolation with its own
 * w_{t-1}, circular shift and sharpening; the read heads read M_{t-1}; the write heads erase
 * (all of them), then add. Fills `outputs` and `tape`.
 */
export function memoryStepForward(
  spec: MemoryStepSpec,
  inputs: MemoryStepInputs,
  outputs: MemoryStepOutputs,
  tape: MemoryStepTape,
  work: StepScratch,
): void {
  const { slots: N, readHeads: R, writeHeads: Hw, shiftRange: K } = spec;
  const H = R + Hw;
  const S = 2 * K + 1;
  const B = inputs.interfaceVector.length / stepInterfaceSize(spec);
  const { interfaceVector: x, memory: M, previous } = inputs;
  const { key, keyNorm, beta, gate, gamma, shift, erase, rowNorm, cosine } = tape;
  const { reads, memory: next, weights } = outputs;
  const { add } = work.buffers(B);
  // 1. activations: k (none or tanh), beta (softplus or oneplus), g, s, gamma; erase e
  for (let b = 0; b < B; b++) activateHeads(spec, x, b, tape);
  gatherAdd(spec, x, B, add);
  // 2. cos(k, M[i]) for every head
  work.passes.beginForward(B, M);
  work.passes.contentScores(key, keyNorm, rowNorm, cosine);
  // 2-5. content weights, interpolation, shift and sharpening, head by head
  const head = headAddress(spec, tape, previous, weights, shift);
  for (let bh = 0; bh < B * H; bh++) {
    head.at = bh * N;
    head.shiftAt = bh * S;
    head.beta = beta[bh] as number;
    head.gate = gate[bh] as number;
    head.gamma = gamma[bh] as number;
    addressHead(head, work.slots);
  }
  // 6. read M_{t-1}; 7. write: erases, then adds
  work.passes.readWrite(weights, erase, add, reads, next);
}

/**
 * Backward pass of {@link memoryStepForward}: the exact gradient of every input, written to
 * `grads`, given the step's inputs, outputs and tape and the gradients of the outputs
 * (`memory` null when M_t gets none, e.g. after the last step).
 */
export function memoryStepBackward(
  spec: MemoryStepSpec,
  inputs: MemoryStepInputs,
  outputs: MemoryStepOutputs,
  tape: MemoryStepTape,
  dOutputs: {
    readonly reads: Float32Array;
    readonly memory: Float32Array | null;
    readonly weights: Float32Array;
  },
  grads: MemoryStepGradients,
  work: StepScratch,
): void {
  const { slots: N, width: W, readHeads: R, writeHeads: Hw, shiftRange: K } = spec;
  const H = R + Hw;
  const S = 2 * K + 1;
  const I = stepInterfaceSize(spec);
  const A = W + S + 3;
  const B = inputs.interfaceVector.length / I;
  const { interfaceVector: x, memory: M, previous } = inputs;
  const { weights } = outputs;
  const { key, keyNorm, rowNorm, beta, gate, gamma, shift, erase } = tape;
  const { reads: dReads, memory: dNext, weights: dWeights } = dOutputs;
  const { interfaceVector: dx, memory: dM, previous: dPrevious } = grads;
  const tanhKey = spec.keyActivation === 'tanh';
  const { add, dW, dDot, scale, dKey, dErase, dAdd } = work.buffers(B);
  const head = work.headGrads;
  const address = headAddress(spec, tape, previous, weights, shift);
  const headGrads: HeadGradients = {
    keyNorm: 0,
    rowNorm,
    rowAt: 0,
    dW,
    dwAt: 0,
    dPrevious,
    dDot,
    dRow: scale,
    dShiftLogits: dx,
    dShiftAt: 0,
    out: head,
  };
  gatherAdd(spec, x, B, add);
  for (let j = 0; j < B * H * N; j++) dW[j] = dWeights[j] as number;
  scale.fill(0);
  dErase.fill(0);
  dAdd.fill(0);
  // 6-7. back through the reads and the write to the weightings (and, with several write
  // heads, to the erase and add vectors)
  work.passes.beginBackward(B, M, dNext, dReads, weights, erase, add);
  work.passes.weightGrads(dW, dErase, dAdd);
  // 2-5. per head, back through sharpening, shift, interpolation, the content softmax and the
  // cosine's division
  for (let b = 0; b < B; b++) {
    const xBase = b * I;
    headGrads.rowAt = b * N;
    headGrads.dW = dW.subarray(b * H * N, (b + 1) * H * N);
    headGrads.dDot = dDot.subarray(b * H * N, (b + 1) * H * N);
    headGrads.dRow = scale.subarray(b * N, (b + 1) * N);
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const field = xBase + h * A;
      const kn = keyNorm[bh] as number;
      address.at = bh * N;
      address.shiftAt = bh * S;
      address.beta = beta[bh] as number;
      address.gate = gate[bh] as number;
      address.gamma = gamma[bh] as number;
      headGrads.keyNorm = kn;
      headGrads.dwAt = h * N;
      headGrads.dShiftAt = field + W + 2;
      addressHeadBackward(address, headGrads, work.head);
      const dKeyNorm = head[3] as number;
      const g = gate[bh] as number;
      // |k| = sqrt(sum k^2 + eps); the dot products' share of dL/dk follows in columnGrads
      for (let c = 0; c < W; c++) dKey[bh * W + c] = (dKeyNorm * (key[bh * W + c] as number)) / kn;
      // head = [dL/dbeta, dL/dg, dL/dgamma, dL/d|k|]
      dx[field + W] = (head[0] as number) * sigmoid(x[field + W] as number);
      dx[field + W + 1] = (head[1] as number) * g * (1 - g);
      dx[field + W + 2 + S] = (head[2] as number) * sigmoid(x[field + W + 2 + S] as number);
    }
  }
  // dL/dM_{t-1}; the dot products' share of dL/dk; with one write head, dL/de and dL/da
  work.passes.memoryGrads(key, dDot, scale, dM);
  work.passes.columnGrads(dDot, dKey, dErase, dAdd);
  // 1. the activations
  for (let b = 0; b < B; b++) {
    const xBase = b * I;
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const field = xBase + h * A;
      for (let c = 0; c < W; c++) {
        const k = key[bh * W + c] as number;
        const dk = dKey[bh * W + c] as number;
        dx[field + c] = tanhKey ? dk * (1 - k * k) : dk;
      }
    }
    for (let h = 0; h < Hw; h++) {
      const field = xBase + H * A + 2 * W * h;
      const e0 = (b * Hw + h) * W;
      for (let c = 0; c < W; c++) {
        const e = erase[e0 + c] as number;
        dx[field + c] = (dErase[e0 + c] as number) * e * (1 - e);
        dx[field + W + c] = dAdd[e0 + c] as number;
      }
    }
  }
}
