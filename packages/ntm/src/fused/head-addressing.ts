import { CONTENT_EPSILON } from '@mann/core';
import { SHARPEN_EPSILON } from '../addressing.js';

// The per-head part of NTM addressing in a fused memory step (N operations per head): from the
// cosines cos(k, M[i]) to the new weighting, and back. Small functions on purpose: V8
// optimises them far better than the same loops inlined in one large step function.

/** y[yo + i] = softmax(x[xo ..])[i] for i < count (y may be x). */
export function softmax(
  x: Float64Array,
  xo: number,
  y: Float64Array,
  yo: number,
  count: number,
): void {
  let max = -Infinity;
  for (let i = 0; i < count; i++) max = Math.max(max, x[xo + i] as number);
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const e = Math.exp((x[xo + i] as number) - max);
    y[yo + i] = e;
    sum += e;
  }
  for (let i = 0; i < count; i++) y[yo + i] = (y[yo + i] as number) / sum;
}

/** One head's intermediate values, each [N] at offset `at` of its array (the step's tape). */
export interface HeadTape {
  readonly cosine: Float64Array;
  readonly content: Float64Array;
  readonly gated: Float64Array;
  readonly shifted: Float64Array;
  readonly logShifted: Float64Array;
}

/**
 * w[to + j] = w_g[(j - d) mod N] summed with `weight` over one shift d, for j < N: the
 * circular convolution of eq. 8 one shift at a time, without a modulo in the loop.
 */
function shiftAdd(
  N: number,
  d: number,
  weight: number,
  from: Float64Array,
  fo: number,
  to: Float64Array,
  tof: number,
): void {
  // j - d in [0, N) for j in [d, N + d) when d >= 0; the rest wraps around
  const split = ((d % N) + N) % N;
  for (let j = split; j < N; j++)
    to[tof + j] = (to[tof + j] as number) + weight * (from[fo + j - split] as number);
  for (let j = 0; j < split; j++)
    to[tof + j] = (to[tof + j] as number) + weight * (from[fo + j - split + N] as number);
}

/**
 * One head of one batch element in a fused step: where its [N] blocks sit and its activated
 * parameters. The step builds one record and updates its fields head by head, so the hot loop
 * allocates nothing; the named fields keep the offsets from being swapped.
 */
export interface HeadAddress {
  /** N, the number of memory slots. */
  readonly slots: number;
  /** k: the S = 2k + 1 shifts run from -k to k. */
  readonly shiftRange: number;
  /** The step's tape of intermediate values. */
  readonly tape: HeadTape;
  /** w_{t-1} of every head. */
  readonly previous: Float32Array;
  /** w_t of every head (written by {@link addressHead}, read by {@link addressHeadBackward}). */
  readonly weights: Float32Array;
  /** The shift weights s of every head, S each. */
  readonly shift: Float64Array;
  /** Offset of the head's [N] block in the tape arrays, `previous` and `weights`. */
  at: number;
  /** Offset of the head's S shift weights in `shift`. */
  shiftAt: number;
  /** beta, the key strength. */
  beta: number;
  /** g, the interpolation gate. */
  gate: number;
  /** gamma, the sharpening exponent. */
  gamma: number;
}

/**
 * One head's weighting from its cosines (Graves et al. 2014, eqs. 5-9):
 * w_c = softmax(beta cos), w_g = w_{t-1} + g (w_c - w_{t-1}),
 * w_s[i] = sum_s shift[s] w_g[(i - s + k) mod N], w = softmax(gamma log(w_s + eps)).
 * Writes the head's block of `head.weights` and of the tape.
 *
 * @param scratch - [N]
 */
export function addressHead(head: HeadAddress, scratch: Float64Array): void {
  const { slots: N, shiftRange: k, tape, at, previous, beta, gate, shift, gamma, weights } = head;
  const so = head.shiftAt;
  const { cosine, content, gated, shifted, logShifted } = tape;
  // w_c = softmax(beta cos)
  let max = -Infinity;
  for (let i = 0; i < N; i++) max = Math.max(max, beta * (cosine[at + i] as number));
  let sum = 0;
  for (let i = 0; i < N; i++) {
    const e = Math.exp(beta * (cosine[at + i] as number) - max);
    scratch[i] = e;
    sum += e;
  }
  // w_g = w_{t-1} + g (w_c - w_{t-1})
  for (let i = 0; i < N; i++) {
    const c = (scratch[i] as number) / sum;
    content[at + i] = c;
    const p = previous[at + i] as number;
    gated[at + i] = p + gate * (c - p);
    shifted[at + i] = 0;
  }
  // w_s = the circular convolution of w_g with s
  for (let s = 0; s <= 2 * k; s++)
    shiftAdd(N, s - k, shift[so + s] as number, gated, at, shifted, at);
  // w = softmax(gamma log(w_s + eps))
  max = -Infinity;
  for (let i = 0; i < N; i++) {
    const l = Math.log((shifted[at + i] as number) + SHARPEN_EPSILON);
    logShifted[at + i] = l;
    max = Math.max(max, gamma * l);
  }
  sum = 0;
  for (let i = 0; i < N; i++) {
    const e = Math.exp(gamma * (logShifted[at + i] as number) - max);
    scratch[i] = e;
    sum += e;
  }
  for (let i = 0; i < N; i++) weights[at + i] = (scratch[i] as number) / sum;
}

/** Scratch of {@link addressHeadBackward}, [N] each, and the S shift gradients. */
export interface HeadScratch {
  readonly dShifted: Float64Array;
  readonly dGated: Float64Array;
  readonly dShift: Float64Array;
}

/** Allocates a {@link HeadScratch}. */
export function headScratch(N: number, shifts: number): HeadScratch {
  return {
    dShifted: new Float64Array(N),
    dGated: new Float64Array(N),
    dShift: new Float64Array(shifts),
  };
}

/**
 * The norms and gradient buffers of {@link addressHeadBackward} for one head. Like
 * {@link HeadAddress}, built once per backward step and updated head by head.
 */
export interface HeadGradients {
  /** |k|, the head's key norm. */
  keyNorm: number;
  /** |M[i]| at `rowAt + i`. */
  readonly rowNorm: Float64Array;
  /** Offset of the batch element's N row norms in `rowNorm`. */
  rowAt: number;
  /** dL/dw, read at `dwAt`. */
  dW: Float64Array;
  /** Offset of the head's [N] block in `dW` and `dDot`. */
  dwAt: number;
  /** dL/dw_{t-1}, written at `head.at`. */
  readonly dPrevious: Float32Array;
  /** dL/d(k . M[i]), written at `dwAt`. */
  dDot: Float64Array;
  /** dL/d|M[i]| / |M[i]|, [N], added to. */
  dRow: Float64Array;
  /** The raw shift logits' gradients, written at `dShiftAt`. */
  readonly dShiftLogits: Float32Array;
  /** Offset of the head's S shift logits in `dShiftLogits`. */
  dShiftAt: number;
  /** Written: [dL/dbeta, dL/dg, dL/dgamma, dL/d|k|]. */
  readonly out: Float64Array;
}

/**
 * Backward of {@link addressHead} and of the cosine's division: from dL/dw to dL/dw_{t-1},
 * dL/d(k . M[i]), dL/d|M[i]| / |M[i]|, the raw shift logits' gradients and
 * [dL/dbeta, dL/dg, dL/dgamma, dL/d|k|], each where {@link HeadGradients} places it.
 */
export function addressHeadBackward(
  head: HeadAddress,
  grads: HeadGradients,
  scratch: HeadScratch,
): void {
  const { slots: N, shiftRange: k, tape, at, previous, weights, beta, gate, shift, gamma } = head;
  const so = head.shiftAt;
  const { keyNorm, rowNorm, dW, dPrevious, dDot, dRow, dShiftLogits, out } = grads;
  const ro = grads.rowAt;
  const dwo = grads.dwAt;
  const dso = grads.dShiftAt;
  const { cosine, content, gated, shifted, logShifted } = tape;
  const { dShifted, dGated, dShift } = scratch;
  // w = softmax(gamma log(w_s + eps)): dl = w (dw - sum dw w), dgamma = sum dl log(w_s + eps)
  let dot = 0;
  for (let i = 0; i < N; i++) dot += (dW[dwo + i] as number) * (weights[at + i] as number);
  let dGamma = 0;
  for (let i = 0; i < N; i++) {
    const dl = (weights[at + i] as number) * ((dW[dwo + i] as number) - dot);
    dGamma += dl * (logShifted[at + i] as number);
    dShifted[i] = (dl * gamma) / ((shifted[at + i] as number) + SHARPEN_EPSILON);
    dGated[i] = 0;
  }
  // w_s = sum_s shift[s] roll(w_g, s - k): dw_g = sum_s shift[s] roll(dw_s, k - s),
  // dshift[s] = dw_s . roll(w_g, s - k)
  let shiftDot = 0;
  for (let s = 0; s <= 2 * k; s++) {
    const weight = shift[so + s] as number;
    shiftAdd(N, k - s, weight, dShifted, 0, dGated, 0);
    const split = (((s - k) % N) + N) % N;
    let sum = 0;
    for (let j = split; j < N; j++)
      sum += (dShifted[j] as number) * (gated[at + j - split] as number);
    for (let j = 0; j < split; j++)
      sum += (dShifted[j] as number) * (gated[at + j - split + N] as number);
    dShift[s] = sum;
    shiftDot += sum * weight;
  }
  for (let s = 0; s <= 2 * k; s++) {
    dShiftLogits[dso + s] = (shift[so + s] as number) * ((dShift[s] as number) - shiftDot);
  }
  // w_g = w_{t-1} + g (w_c - w_{t-1}); then w_c = softmax(beta cos)
  let dGate = 0;
  dot = 0;
  for (let i = 0; i < N; i++) {
    const dg = dGated[i] as number;
    const c = content[at + i] as number;
    dGate += dg * (c - (previous[at + i] as number));
    dPrevious[at + i] = (1 - gate) * dg;
    dot += gate * dg * c;
  }
  // cos = dot / (|k| |M[i]| + eps)
  let dBeta = 0;
  let dKeyNorm = 0;
  for (let i = 0; i < N; i++) {
    const c = content[at + i] as number;
    const dLogit = c * (gate * (dGated[i] as number) - dot);
    const cs = cosine[at + i] as number;
    dBeta += dLogit * cs;
    const dCos = dLogit * beta;
    const rn = rowNorm[ro + i] as number;
    const den = keyNorm * rn + CONTENT_EPSILON;
    const dDen = (-dCos * cs) / den;
    dDot[dwo + i] = dCos / den;
    dKeyNorm += dDen * rn;
    dRow[i] = (dRow[i] as number) + (dDen * keyNorm) / rn;
  }
  out[0] = dBeta;
  out[1] = dGate;
  out[2] = dGamma;
  out[3] = dKeyNorm;
}
