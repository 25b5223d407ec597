import type { SimdRuntime } from '@mann/core/fused';
import { SHARPNESS_EPSILON } from '../sharpness.js';
import { weightingKernelExports } from './simd-weighting.js';

// The weightings of one example, forward and backward: the write weighting (docs/spec.md section 3
// step 4, `writeWeighting`), the precedence (step 6, `updatePrecedence`), the DNC-MD link
// sharpening (`sharpenLinkWeights`) and the read weighting (step 7, `readWeighting`).
// n = N, h = H write heads, r = R read heads. Gates and modes come from the activated
// interface vector `act` at their offsets; their gradients go to the same offsets of `dAct`.
// The read weighting also has a float32 SIMD form (`simd-weighting.ts`), used when its record
// has a runtime and N is a multiple of 4; the JS loops (float64) are its reference.

/**
 * The inputs of one example's write weighting. A step builds one record and points its arrays
 * at each example in turn, so the loop over the batch allocates no record.
 */
export interface WriteWeighting {
  /** N, the number of memory slots. */
  readonly slots: number;
  /** H, the number of write heads. */
  readonly writeHeads: number;
  /** The activated interface vector: g^a at `allocationGatesAt`, g^w at `writeGatesAt`, [H] each. */
  act: Float32Array;
  /** Offset of the allocation gates g^a in `act`. */
  readonly allocationGatesAt: number;
  /** Offset of the write gates g^w in `act`. */
  readonly writeGatesAt: number;
  /** a, [H, N]. */
  allocation: Float32Array;
  /** c^w, [H, N]. */
  content: Float32Array;
}

/**
 * `w^w[k] = g^w_k (g^a_k a[k] + (1 - g^a_k) c^w[k])`.
 *
 * @param writes - w^w, [H, N], written
 */
export function writeWeightingForward(mix: WriteWeighting, writes: Float32Array): void {
  const { slots: n, writeHeads: h, act, allocation, content } = mix;
  const allocationGates = mix.allocationGatesAt;
  const writeGates = mix.writeGatesAt;
  for (let k = 0; k < h; k++) {
    const ga = act[allocationGates + k] as number;
    const gw = act[writeGates + k] as number;
    for (let i = k * n; i < (k + 1) * n; i++) {
      writes[i] = gw * (ga * (allocation[i] as number) + (1 - ga) * (content[i] as number));
    }
  }
}

/** The gradient buffers of {@link writeWeightingBackward}, pointed at one example. */
export interface WriteWeightingGradients {
  /** dL/dw^w, [H, N]. */
  dWrites: Float32Array;
  /** dL/da, [H, N], added to. */
  dAllocation: Float32Array;
  /** dL/dc^w, [H, N], written. */
  dContent: Float32Array;
  /** dL/d(activated interface), added to at the gates' offsets. */
  dAct: Float32Array;
}

/** Gradients of {@link writeWeightingForward}. */
export function writeWeightingBackward(mix: WriteWeighting, grads: WriteWeightingGradients): void {
  const { slots: n, writeHeads: h, act, allocation, content } = mix;
  const allocationGates = mix.allocationGatesAt;
  const writeGates = mix.writeGatesAt;
  const { dWrites, dAllocation, dContent, dAct } = grads;
  for (let k = 0; k < h; k++) {
    const ga = act[allocationGates + k] as number;
    const gw = act[writeGates + k] as number;
    let dga = 0;
    let dgw = 0;
    for (let i = k * n; i < (k + 1) * n; i++) {
      const a = allocation[i] as number;
      const c = content[i] as number;
      const d = dWrites[i] as number;
      dgw += d * (ga * a + (1 - ga) * c);
      const dMixed = d * gw;
      dAllocation[i] = (dAllocation[i] as number) + dMixed * ga;
      dContent[i] = dMixed * (1 - ga);
      dga += dMixed * (a - c);
    }
    dAct[allocationGates + k] = (dAct[allocationGates + k] as number) + dga;
    dAct[writeGates + k] = (dAct[writeGates + k] as number) + dgw;
  }
}

/**
 * `p_t[k] = (1 - sum_i w^w[k, i]) p_{t-1}[k] + w^w[k]`.
 *
 * @param prev - p_{t-1}, [H, N]
 * @param writes - w^w_t, [H, N]
 * @param next - p_t, [H, N], written
 */
export function precedenceForward(
  n: number,
  h: number,
  prev: Float32Array,
  writes: Float32Array,
  next: Float32Array,
): void {
  for (let k = 0; k < h; k++) {
    let total = 0;
    for (let i = k * n; i < (k + 1) * n; i++) total += writes[i] as number;
    for (let i = k * n; i < (k + 1) * n; i++) {
      next[i] = (1 - total) * (prev[i] as number) + (writes[i] as number);
    }
  }
}

/** The arrays of {@link precedenceBackward}: n = N slots, h = H write heads. */
export interface PrecedenceBackward {
  readonly n: number;
  readonly h: number;
  /** p_{t-1} and w^w_t, [H, N] */
  readonly prev: Float32Array;
  readonly writes: Float32Array;
  /** dL/dp_t, [H, N] */
  readonly dNext: Float32Array;
  /** dL/dp_{t-1}, [H, N], added to */
  readonly dPrev: Float32Array;
  /** dL/dw^w_t, [H, N], added to */
  readonly dWrites: Float32Array;
}

/** The gradient of {@link precedenceForward}. */
export function precedenceBackward({
  n,
  h,
  prev,
  writes,
  dNext,
  dPrev,
  dWrites,
}: PrecedenceBackward): void {
  for (let k = 0; k < h; k++) {
    let total = 0;
    let dTotal = 0;
    for (let i = k * n; i < (k + 1) * n; i++) {
      total += writes[i] as number;
      dTotal -= (dNext[i] as number) * (prev[i] as number);
    }
    for (let i = k * n; i < (k + 1) * n; i++) {
      dPrev[i] = (dPrev[i] as number) + (1 - total) * (dNext[i] as number);
      dWrites[i] = (dWrites[i] as number) + (dNext[i] as number) + dTotal;
    }
  }
}

/**
 * DNC-MD sharpening of one weighting d [N] with exponent s:
 * `out = P / sum(P)`, `P = y^s`, `y = (d + eps) / max(d + eps)` (the max carries no gradient).
 * `y^s` as `exp(s ln y)`, which costs about half of `Math.pow` here.
 *
 * @param d - the array holding d at `from`, [N]
 * @param out - the array receiving S(d, s) at `from`, [N]
 */
export function sharpenForward(
  n: number,
  d: Float32Array,
  from: number,
  s: number,
  out: Float32Array,
): void {
  let max = -Infinity;
  for (let i = from; i < from + n; i++) max = Math.max(max, (d[i] as number) + SHARPNESS_EPSILON);
  const logMax = Math.log(max);
  let sum = 0;
  for (let i = from; i < from + n; i++) {
    const p = Math.exp(s * (Math.log((d[i] as number) + SHARPNESS_EPSILON) - logMax));
    out[i] = p;
    sum += p;
  }
  for (let i = from; i < from + n; i++) out[i] = (out[i] as number) / sum;
}

/** The arrays of {@link sharpenBackward}, at `from` in each. */
export interface SharpenBackward {
  readonly n: number;
  readonly from: number;
  /** the exponent s */
  readonly s: number;
  /** d, the weighting sharpened */
  readonly d: Float32Array;
  /** S(d, s), the forward's output */
  readonly out: Float32Array;
  /** dL/dS */
  readonly dOut: Float32Array;
  /** dL/dd, written */
  readonly dD: Float32Array;
}

/**
 * The gradient of {@link sharpenForward} into `dD`; returns dL/ds. From the forward's output
 * alone: with g_i = (dOut_i - dOut . out) out_i (the softmax-like Jacobian applied to dOut),
 * dL/dd_i = s g_i / (d_i + eps) and dL/ds = sum_i g_i ln y_i, so no power is recomputed.
 */
export function sharpenBackward({ n, from, s, d, out, dOut, dD }: SharpenBackward): number {
  let max = -Infinity;
  let dot = 0;
  for (let i = from; i < from + n; i++) {
    max = Math.max(max, (d[i] as number) + SHARPNESS_EPSILON);
    dot += (dOut[i] as number) * (out[i] as number);
  }
  const logMax = Math.log(max);
  let dS = 0;
  for (let i = from; i < from + n; i++) {
    const shifted = (d[i] as number) + SHARPNESS_EPSILON;
    const g = ((dOut[i] as number) - dot) * (out[i] as number);
    if (g !== 0) dS += g * (Math.log(shifted) - logMax);
    dD[i] = (s * g) / shifted;
  }
  return dS;
}

/**
 * The inputs of one example's read weighting. A step builds one record and points its arrays
 * at each example in turn, so the loop over the batch allocates no record.
 */
export interface ReadWeighting {
  /**
   * The SIMD runtime of the read weighting (float32; `simd-weighting.ts`), or undefined for the
   * JS reference (float64). Used only when N is a multiple of 4.
   */
  readonly runtime: SimdRuntime | undefined;
  /** N, the number of memory slots. */
  readonly slots: number;
  /** R, the number of read heads. */
  readonly readHeads: number;
  /** H, the number of write heads. */
  readonly writeHeads: number;
  /** The activated interface vector: the read modes pi at `modesAt`, [R, 1 + 2H]. */
  act: Float32Array;
  /** Offset of the read modes in `act`. */
  readonly modesAt: number;
  /** c^r, [R, N]. */
  content: Float32Array;
  /** b, [H, R, N]. */
  backward: Float32Array;
  /** f, [H, R, N]. */
  forward: Float32Array;
}

/**
 * `w^r[k] = sum_h pi[k, h] b[h, k] + pi[k, H] c^r[k] + sum_h pi[k, H + 1 + h] f[h, k]`.
 *
 * @param weights - w^r, [R, N], written
 */
export function readWeightingForward(mix: ReadWeighting, weights: Float32Array): void {
  const { slots: n, readHeads: r, writeHeads: h, act, content, backward, forward } = mix;
  const runtime = n % 4 === 0 ? mix.runtime : undefined;
  if (!runtime) {
    readWeightingForwardJs(mix, weights);
    return;
  }
  const q = 1 + 2 * h;
  const call = runtime.begin();
  const out = call.output(weights, r * n);
  weightingKernelExports(runtime).readWeighting(
    n,
    r,
    h,
    call.input(act.subarray(mix.modesAt, mix.modesAt + r * q), r * q),
    call.input(content, r * n),
    call.input(backward, h * r * n),
    call.input(forward, h * r * n),
    out,
  );
  call.read(out, r * n, weights);
}

function readWeightingForwardJs(mix: ReadWeighting, weights: Float32Array): void {
  const { slots: n, readHeads: r, writeHeads: h, act, content, backward, forward } = mix;
  const modes = mix.modesAt;
  const q = 1 + 2 * h;
  for (let k = 0; k < r; k++) {
    const pi = modes + k * q;
    const contentMode = act[pi + h] as number;
    for (let i = 0; i < n; i++) weights[k * n + i] = contentMode * (content[k * n + i] as number);
    for (let head = 0; head < h; head++) {
      const pb = act[pi + head] as number;
      const pf = act[pi + h + 1 + head] as number;
      const at = (head * r + k) * n;
      for (let i = 0; i < n; i++) {
        weights[k * n + i] =
          (weights[k * n + i] as number) +
          pb * (backward[at + i] as number) +
          pf * (forward[at + i] as number);
      }
    }
  }
}

/** The gradient buffers of {@link readWeightingBackward}, pointed at one example. */
export interface ReadWeightingGradients {
  /** dL/dw^r, [R, N]. */
  dWeights: Float32Array;
  /** dL/dc^r, [R, N], written. */
  dContent: Float32Array;
  /** dL/db, [H, R, N], written. */
  dBackward: Float32Array;
  /** dL/df, [H, R, N], written. */
  dForward: Float32Array;
  /** dL/d(activated interface), added to at the read modes. */
  dAct: Float32Array;
}

/** Gradients of {@link readWeightingForward}. */
export function readWeightingBackward(mix: ReadWeighting, grads: ReadWeightingGradients): void {
  const { slots: n, readHeads: r, writeHeads: h, act, content, backward, forward } = mix;
  const runtime = n % 4 === 0 ? mix.runtime : undefined;
  if (!runtime) {
    readWeightingBackwardJs(mix, grads);
    return;
  }
  const { dWeights, dContent, dBackward, dForward, dAct } = grads;
  const q = 1 + 2 * h;
  const modes = mix.modesAt;
  const call = runtime.begin();
  const at = {
    dContent: call.output(dContent, r * n),
    dBackward: call.output(dBackward, h * r * n),
    dForward: call.output(dForward, h * r * n),
    dModes: call.zeros(r * q),
  };
  weightingKernelExports(runtime).readWeightingBackward(
    n,
    r,
    h,
    call.input(act.subarray(modes, modes + r * q), r * q),
    call.input(content, r * n),
    call.input(backward, h * r * n),
    call.input(forward, h * r * n),
    call.input(dWeights, r * n),
    at.dContent,
    at.dBackward,
    at.dForward,
    at.dModes,
  );
  call.read(at.dContent, r * n, dContent);
  call.read(at.dBackward, h * r * n, dBackward);
  call.read(at.dForward, h * r * n, dForward);
  const heap = runtime.heap;
  for (let c = 0; c < r * q; c++)
    dAct[modes + c] = (dAct[modes + c] as number) + (heap[(at.dModes >> 2) + c] as number);
}

function readWeightingBackwardJs(mix: ReadWeighting, grads: ReadWeightingGradients): void {
  const { slots: n, readHeads: r, writeHeads: h, act, content, backward, forward } = mix;
  const modes = mix.modesAt;
  const { dWeights, dContent, dBackward, dForward, dAct } = grads;
  const q = 1 + 2 * h;
  for (let k = 0; k < r; k++) {
    const pi = modes + k * q;
    const contentMode = act[pi + h] as number;
    let dContentMode = 0;
    for (let i = 0; i < n; i++) {
      const d = dWeights[k * n + i] as number;
      dContentMode += d * (content[k * n + i] as number);
      dContent[k * n + i] = d * contentMode;
    }
    dAct[pi + h] = (dAct[pi + h] as number) + dContentMode;
    for (let head = 0; head < h; head++) {
      const pb = act[pi + head] as number;
      const pf = act[pi + h + 1 + head] as number;
      const at = (head * r + k) * n;
      let dpb = 0;
      let dpf = 0;
      for (let i = 0; i < n; i++) {
        const d = dWeights[k * n + i] as number;
        dpb += d * (backward[at + i] as number);
        dpf += d * (forward[at + i] as number);
        dBackward[at + i] = d * pb;
        dForward[at + i] = d * pf;
      }
      dAct[pi + head] = (dAct[pi + head] as number) + dpb;
      dAct[pi + h + 1 + head] = (dAct[pi + h + 1 + head] as number) + dpf;
    }
  }
}
