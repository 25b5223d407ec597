import { CONTENT_EPSILON } from '@mann/core';
import { scratch, scratch32, type Carver } from '@mann/core/fused';
import { rowKernelExports, type RowKernels, type SimdRuntime } from '@mann/core/fused';
import { contentKernelExports } from './simd-content.js';

// Content addressing of one example, forward and backward, with core's exact formula
// (`contentWeights`): `C[h, i] = softmax_i(beta_h cos(k_h * m_h, M[i] * m_h))` with
// `cos(a, b) = a . b / (|a| |b| + eps)` and `|x| = sqrt(sum x^2 + eps)`; without masks m = 1.
// Keys, strengths and masks are read from the activated interface vector at their offsets,
// and their gradients are added to the same offsets of its gradient. Two implementations: plain
// JS loops in float64 (`contentForwardJs`, `contentBackwardJs`: the reference, and the fallback),
// and float32 WebAssembly SIMD (`simd-content.ts` and core's row kernels, all on one runtime,
// with the memory copied in once per call) wherever the row kernels are SIMD and N is a multiple
// of 4.

/** Where one set of heads finds its parameters in the activated interface vector. */
export interface ContentHeads {
  /** H, heads */
  readonly heads: number;
  /** Offset of the keys, [H, W] */
  readonly keys: number;
  /** Offset of the strengths beta, [H] */
  readonly strengths: number;
  /** Offset of the masks, [H, W], or -1 without masking */
  readonly masks: number;
}

/** What the backward pass needs from the forward one. */
export interface ContentTape {
  /** cos(k_h, M[i]), [H, N] */
  readonly cosine: Float32Array;
  /** |M[i] * m_h|, [H, N] */
  readonly rowNorms: Float32Array;
  /** |k_h * m_h|, [H] */
  readonly keyNorms: Float32Array;
}

/** Floats of a {@link ContentTape}. */
export const contentTapeSize = (heads: number, n: number): number => 2 * heads * n + heads;

export function allocateContentTape(
  heads: number,
  n: number,
  carver: Carver<Float32Array>,
): ContentTape {
  return {
    cosine: carver.take(heads * n),
    rowNorms: carver.take(heads * n),
    keyNorms: carver.take(heads),
  };
}

/**
 * The masked heads' vectors: m_h^2 and k_h m_h^2, each [H, W], and |k_h m_h| into keyNorms.
 * With them, |M[i] m_h|^2 = M[i]^2 . m_h^2 and (k_h m_h) . (M[i] m_h) = (k_h m_h^2) . M[i]:
 * row products, like the unmasked heads'.
 */
function maskedVectors(
  w: number,
  at: ContentHeads,
  act: Float32Array,
  keyNorms: Float32Array,
): { maskSquares: Float64Array; keyMasks: Float64Array } {
  const maskSquares = scratch('content.maskSquares', at.heads * w);
  const keyMasks = scratch('content.keyMasks', at.heads * w);
  for (let h = 0; h < at.heads; h++) {
    let keySquares = 0;
    for (let c = 0; c < w; c++) {
      const k = act[at.keys + h * w + c] as number;
      const m = act[at.masks + h * w + c] as number;
      keySquares += k * m * k * m;
      maskSquares[h * w + c] = m * m;
      keyMasks[h * w + c] = k * m * m;
    }
    keyNorms[h] = Math.sqrt(keySquares + CONTENT_EPSILON);
  }
  return { maskSquares, keyMasks };
}

/**
 * One example's content addressing by one set of heads. A step builds one record per set of
 * heads and points its arrays at each example in turn, so the loop over the batch allocates no
 * record.
 */
export interface ContentAddress {
  /** The row kernels for rows of W. */
  readonly rows: RowKernels;
  /** N, the number of memory slots. */
  readonly slots: number;
  /** W, the width of a memory row. */
  readonly width: number;
  /** Where the heads find their parameters in `act`. */
  readonly heads: ContentHeads;
  /** M, [N, W]. */
  memory: Float32Array;
  /** The activated interface vector. */
  act: Float32Array;
  /** C, [H, N], written by {@link contentForward}, read by {@link contentBackward}. */
  weights: Float32Array;
  /** The tape, written by {@link contentForward}, read by {@link contentBackward}. */
  tape: ContentTape;
}

/** Whether `address` runs on the SIMD kernels (else on the JS reference). */
const simdFor = (address: ContentAddress): SimdRuntime | undefined =>
  address.rows.kind === 'simd' && address.slots % 4 === 0 ? address.rows.runtime : undefined;

/**
 * The content weights C of `address.heads` on `address.memory`, into `address.weights`: in
 * WebAssembly SIMD (float32) when the row kernels are SIMD and N is a multiple of 4, else
 * {@link contentForwardJs}.
 */
export function contentForward(address: ContentAddress): void {
  const runtime = simdFor(address);
  if (runtime) contentForwardSimd(runtime, address);
  else contentForwardJs(address);
}

/** dL/dM and dL/d(keys, strengths, masks) of {@link contentForward}, the same way. */
export function contentBackward(address: ContentAddress, grads: ContentGradients): void {
  const runtime = simdFor(address);
  if (runtime) contentBackwardSimd(runtime, address, grads);
  else contentBackwardJs(address, grads);
}

/** |k_h| of the unmasked heads into keyNorms, [H]. */
function keyNormsOf(w: number, at: ContentHeads, act: Float32Array, keyNorms: Float32Array): void {
  for (let h = 0; h < at.heads; h++) {
    let keySquares = 0;
    for (let c = at.keys + h * w; c < at.keys + (h + 1) * w; c++)
      keySquares += (act[c] as number) ** 2;
    keyNorms[h] = Math.sqrt(keySquares + CONTENT_EPSILON);
  }
}

function contentForwardSimd(runtime: SimdRuntime, address: ContentAddress): void {
  const { slots: n, width: w, heads: at, memory, act, weights, tape } = address;
  const rows = rowKernelExports(runtime, w)!;
  const { contentSoftmax } = contentKernelExports(runtime);
  const h = at.heads;
  const call = runtime.begin();
  const m = call.input(memory, n * w);
  let squares: number;
  let keys: number;
  if (at.masks < 0) {
    keyNormsOf(w, at, act, tape.keyNorms);
    squares = call.zeros(n);
    rows.rowSquares(n, w, m, squares);
    keys = call.input(act.subarray(at.keys, at.keys + h * w), h * w);
  } else {
    const { maskSquares, keyMasks } = maskedVectors(w, at, act, tape.keyNorms);
    squares = call.zeros(h * n);
    rows.rowSquareDots(n, w, m, call.input(maskSquares, h * w), h, squares);
    keys = call.input(keyMasks, h * w);
  }
  const cosine = call.cleared(tape.cosine, h * n);
  rows.rowDots(n, w, m, keys, h, cosine);
  const rowNorms = call.cleared(tape.rowNorms, h * n);
  const out = call.output(weights, h * n);
  contentSoftmax(
    n,
    h,
    squares,
    at.masks < 0 ? 0 : n,
    call.input(tape.keyNorms, h),
    call.input(act.subarray(at.strengths, at.strengths + h), h),
    cosine,
    rowNorms,
    out,
  );
  call.read(cosine, h * n, tape.cosine);
  call.read(rowNorms, h * n, tape.rowNorms);
  call.read(out, h * n, weights);
}

function contentBackwardSimd(
  runtime: SimdRuntime,
  address: ContentAddress,
  grads: ContentGradients,
): void {
  const { slots: n, width: w, heads: at, memory, act, weights, tape } = address;
  const { dWeights, dMemory, dAct } = grads;
  const rows = rowKernelExports(runtime, w)!;
  const { contentGradient } = contentKernelExports(runtime);
  const h = at.heads;
  const masked = at.masks >= 0;
  const call = runtime.begin();
  const dDot = call.zeros(h * n);
  const dRowSquares = call.zeros(h * n);
  const rowScale = masked ? 0 : call.zeros(n);
  const scalars = call.zeros(2 * h);
  contentGradient(
    n,
    h,
    call.input(weights, h * n),
    call.input(dWeights, h * n),
    call.input(tape.cosine, h * n),
    call.input(tape.rowNorms, h * n),
    call.input(tape.keyNorms, h),
    call.input(act.subarray(at.strengths, at.strengths + h), h),
    dDot,
    dRowSquares,
    rowScale,
    masked ? 0 : 1,
    scalars,
  );
  const m = call.input(memory, n * w);
  const dm = call.input(dMemory, n * w);
  const dKeys = call.zeros(h * w);
  rows.rowMix(n, w, m, dDot, h, dKeys);
  const scalar = scalars >> 2;
  for (let k = 0; k < h; k++) {
    const s = at.strengths + k;
    dAct[s] = (dAct[s] as number) + (runtime.heap[scalar + k] as number);
  }
  if (!masked) {
    // dM[i] += sum_h dDot[h, i] k_h + 2 (sum_h dS[h, i]) M[i];  dk_h += sum_i dDot[h, i] M[i]
    const keys = call.input(act.subarray(at.keys, at.keys + h * w), h * w);
    rows.rowUpdate(n, w, dm, m, dDot, keys, h, rowScale, 1);
    call.read(dm, n * w, dMemory);
    const heap = runtime.heap; // after the last input: growing the memory replaces it
    const mix = dKeys >> 2;
    for (let k = 0; k < h; k++) {
      const dKeySquares = (heap[scalar + h + k] as number) / (2 * (tape.keyNorms[k] as number));
      for (let c = 0; c < w; c++) {
        const key = at.keys + k * w + c;
        dAct[key] =
          (dAct[key] as number) +
          (heap[mix + k * w + c] as number) +
          2 * dKeySquares * (act[key] as number);
      }
    }
    return;
  }
  // masked, as in contentBackwardJs; 2 m^2 as the vectors of the product update stands for
  // doubling dS (the same float32 products: doubling is exact)
  const { maskSquares, keyMasks } = maskedVectors(w, at, act, scratch32('content.keyNorms', h));
  rows.rowUpdate(n, w, dm, m, dDot, call.input(keyMasks, h * w), h, 0, 0);
  const squareMix = call.zeros(h * w);
  rows.rowSquareMix(n, w, m, dRowSquares, h, squareMix);
  for (let c = 0; c < h * w; c++) maskSquares[c] = 2 * (maskSquares[c] as number);
  rows.rowProductUpdate(n, w, dm, m, dRowSquares, call.input(maskSquares, h * w), h);
  call.read(dm, n * w, dMemory);
  const heap = runtime.heap;
  const dotMix = dKeys >> 2;
  const squares = squareMix >> 2;
  for (let k = 0; k < h; k++) {
    const dKeySquares = (heap[scalar + h + k] as number) / (2 * (tape.keyNorms[k] as number));
    for (let c = 0; c < w; c++) {
      const key = at.keys + k * w + c;
      const mask = at.masks + k * w + c;
      const kk = act[key] as number;
      const mm = act[mask] as number;
      const a = heap[dotMix + k * w + c] as number;
      dAct[key] = (dAct[key] as number) + mm * mm * a + 2 * dKeySquares * kk * mm * mm;
      dAct[mask] =
        (dAct[mask] as number) +
        2 * mm * (kk * a + (heap[squares + k * w + c] as number)) +
        2 * dKeySquares * kk * kk * mm;
    }
  }
}

/** The JS reference of {@link contentForward}, in float64. */
export function contentForwardJs(address: ContentAddress): void {
  const { rows, slots: n, width: w, heads: at, memory, act, weights, tape } = address;
  const eps = CONTENT_EPSILON;
  const { cosine, rowNorms, keyNorms } = tape;
  if (at.masks < 0) {
    // |M[i]| once for every head, then every head's k . M[i] in one pass
    rows.squares(n, w, memory, rowNorms);
    for (let i = 0; i < n; i++) rowNorms[i] = Math.sqrt((rowNorms[i] as number) + eps);
    for (let h = 1; h < at.heads; h++) rowNorms.copyWithin(h * n, 0, n);
    rows.dots(n, w, memory, act.subarray(at.keys, at.keys + at.heads * w), at.heads, cosine);
    for (let h = 0; h < at.heads; h++) {
      let keySquares = 0;
      for (let c = at.keys + h * w; c < at.keys + (h + 1) * w; c++)
        keySquares += (act[c] as number) ** 2;
      const keyNorm = Math.sqrt(keySquares + eps);
      keyNorms[h] = keyNorm;
      for (let i = h * n; i < (h + 1) * n; i++) {
        cosine[i] = (cosine[i] as number) / (keyNorm * (rowNorms[i] as number) + eps);
      }
      softmaxOf(n, h * n, act[at.strengths + h] as number, cosine, weights);
    }
    return;
  }
  const { maskSquares, keyMasks } = maskedVectors(w, at, act, keyNorms);
  rows.squareDots(n, w, memory, maskSquares, at.heads, rowNorms);
  rows.dots(n, w, memory, keyMasks, at.heads, cosine);
  for (let h = 0; h < at.heads; h++) {
    const keyNorm = keyNorms[h] as number;
    for (let i = h * n; i < (h + 1) * n; i++) {
      const rowNorm = Math.sqrt((rowNorms[i] as number) + eps);
      rowNorms[i] = rowNorm;
      cosine[i] = (cosine[i] as number) / (keyNorm * rowNorm + eps);
    }
    softmaxOf(n, h * n, act[at.strengths + h] as number, cosine, weights);
  }
}

/** weights[from ..] = softmax(beta cosine[from ..]) over n slots. */
function softmaxOf(
  n: number,
  from: number,
  beta: number,
  cosine: Float32Array,
  weights: Float32Array,
): void {
  let max = -Infinity;
  for (let i = from; i < from + n; i++) max = Math.max(max, beta * (cosine[i] as number));
  let sum = 0;
  for (let i = from; i < from + n; i++) {
    const e = Math.exp(beta * (cosine[i] as number) - max);
    weights[i] = e;
    sum += e;
  }
  for (let i = from; i < from + n; i++) weights[i] = (weights[i] as number) / sum;
}

/** The gradient buffers of {@link contentBackward}, pointed at one example. */
export interface ContentGradients {
  /** dL/dC, [H, N]. */
  dWeights: Float32Array;
  /** dL/dM, [N, W], added to. */
  dMemory: Float32Array;
  /** dL/d(activated interface), added to at the heads' offsets. */
  dAct: Float32Array;
}

/**
 * Adds dL/dM to `grads.dMemory` and dL/d(keys, strengths, masks) to `grads.dAct`, given dL/dC.
 *
 * With D = |k m| |M[i] m| + eps and cos = dot / D: dL/ddot = dcos / D and
 * dL/dD = -dcos cos / D; |x| = sqrt(S + eps) gives dS = d|x| / (2 |x|), and
 * dS/dM = 2 m^2 M, dS_k/dk = 2 k m^2, dS/dm = 2 m M^2, dS_k/dm = 2 k^2 m.
 */
export function contentBackwardJs(address: ContentAddress, grads: ContentGradients): void {
  const { rows, slots: n, width: w, heads: at, memory, act, weights, tape } = address;
  const { dWeights, dMemory, dAct } = grads;
  const eps = CONTENT_EPSILON;
  const { cosine, rowNorms, keyNorms } = tape;
  const masked = at.masks >= 0;
  const heads = at.heads;
  // per head and slot: dL/ddot and dL/dS (S = |M[i] m|^2); per head dL/d|k m|
  const dDot = scratch('content.dDot', heads * n);
  const dRowSquares = scratch('content.dRowSquares', heads * n);
  const dKeyNorm = scratch('content.dKeyNorm', heads);
  for (let h = 0; h < heads; h++) {
    const beta = act[at.strengths + h] as number;
    const keyNorm = keyNorms[h] as number;
    let dotWeights = 0;
    for (let i = h * n; i < (h + 1) * n; i++)
      dotWeights += (dWeights[i] as number) * (weights[i] as number);
    let dBeta = 0;
    let dNorm = 0;
    for (let i = h * n; i < (h + 1) * n; i++) {
      const dz = (weights[i] as number) * ((dWeights[i] as number) - dotWeights); // softmax
      const cos = cosine[i] as number;
      dBeta += dz * cos;
      const dCos = dz * beta;
      const rowNorm = rowNorms[i] as number;
      const denominator = keyNorm * rowNorm + eps;
      const dDenominator = (-dCos * cos) / denominator;
      dDot[i] = dCos / denominator;
      dNorm += dDenominator * rowNorm;
      dRowSquares[i] = (dDenominator * keyNorm) / (2 * rowNorm);
    }
    dAct[at.strengths + h] = (dAct[at.strengths + h] as number) + dBeta;
    dKeyNorm[h] = dNorm;
  }
  if (!masked) {
    // dM[i] += sum_h dDot[h, i] k_h + 2 (sum_h dS[h, i]) M[i];  dk_h += sum_i dDot[h, i] M[i]
    const rowScale = scratch('content.rowScale', n);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++)
        rowScale[i] = (rowScale[i] as number) + 2 * (dRowSquares[h * n + i] as number);
    }
    const keys = act.subarray(at.keys, at.keys + heads * w);
    rows.update(n, w, dMemory, memory, dDot, keys, heads, rowScale);
    const dKeys = scratch('content.dKeys', heads * w);
    rows.mix(n, w, memory, dDot, heads, dKeys);
    for (let h = 0; h < heads; h++) {
      const dKeySquares = (dKeyNorm[h] as number) / (2 * (keyNorms[h] as number));
      for (let c = 0; c < w; c++) {
        const k = at.keys + h * w + c;
        dAct[k] =
          (dAct[k] as number) + (dKeys[h * w + c] as number) + 2 * dKeySquares * (act[k] as number);
      }
    }
    return;
  }
  // masked: dM[i] += sum_h dDot[h, i] k_h m_h^2 + 2 M[i] sum_h dS[h, i] m_h^2;
  // dk_h += m_h^2 A_h and dm_h += 2 m_h (k_h A_h + B_h), A_h = sum_i dDot[h, i] M[i] and
  // B_h = sum_i dS[h, i] M[i]^2; the key norm's terms as unmasked, with k m for k
  const { maskSquares, keyMasks } = maskedVectors(w, at, act, scratch32('content.keyNorms', heads));
  rows.update(n, w, dMemory, memory, dDot, keyMasks, heads, null);
  const squareMix = scratch('content.squareMix', heads * w);
  rows.squareMix(n, w, memory, dRowSquares, heads, squareMix);
  // dRowSquares is not read after this point: doubled in place, for dS/dM = 2 m^2 M
  for (let c = 0; c < heads * n; c++) dRowSquares[c] = 2 * (dRowSquares[c] as number);
  rows.productUpdate(n, w, dMemory, memory, dRowSquares, maskSquares, heads);
  const dotMix = scratch('content.dotMix', heads * w);
  rows.mix(n, w, memory, dDot, heads, dotMix);
  for (let h = 0; h < heads; h++) {
    const dKeySquares = (dKeyNorm[h] as number) / (2 * (keyNorms[h] as number));
    for (let c = 0; c < w; c++) {
      const key = at.keys + h * w + c;
      const mask = at.masks + h * w + c;
      const k = act[key] as number;
      const m = act[mask] as number;
      const a = dotMix[h * w + c] as number;
      dAct[key] = (dAct[key] as number) + m * m * a + 2 * dKeySquares * k * m * m;
      dAct[mask] =
        (dAct[mask] as number) +
        2 * m * (k * a + (squareMix[h * w + c] as number)) +
        2 * dKeySquares * k * k * m;
    }
  }
}
