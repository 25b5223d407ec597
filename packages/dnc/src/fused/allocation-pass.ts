import { ALLOCATION_EPSILON } from '../allocation.js';
import { scratch, type Carver, type SimdRuntime } from '@mann/core/fused';
import { allocationKernelExports } from './simd-allocation.js';

// Retention, usage and allocation of one example (docs/spec.md section 3 steps 1-3), forward and
// backward, as `retentionVector`, `usageAfterWrite` and `writeAllocationWeightings` compute
// them. n = N slots, r = R read heads, h = H write heads. The per-slot products of retention
// and usage, and their gradients, run in float32 SIMD (`simd-allocation.ts`) when the step has
// a runtime and N is a multiple of 4, else in float64 JS (the reference); the free list's sort
// and the products along it are sequential and stay in JS.

/** What the backward pass needs from the forward one. */
export interface AllocationTape {
  /** psi = prod_r (1 - f_r w^r_{t-1}), [N] */
  readonly retention: Float32Array;
  /** prod_h (1 - w^w_{t-1, h}), [N] */
  readonly unwritten: Float32Array;
  /** The usage each write head allocates from, [H, N] (head 0: u_t) */
  readonly headUsage: Float32Array;
  /** The free list phi of each head: slots by ascending u', [H, N] */
  readonly order: Int32Array;
  /** u' in free-list order, [H, N] */
  readonly sorted: Float32Array;
  /** Exclusive cumulative products of `sorted`, [H, N] */
  readonly products: Float32Array;
}

/** Floats and ints of an {@link AllocationTape}. */
export const allocationTapeSize = (heads: number, n: number): { floats: number; ints: number } => ({
  floats: 2 * n + 3 * heads * n,
  ints: heads * n,
});

export function allocateAllocationTape(
  heads: number,
  n: number,
  floats: Carver<Float32Array>,
  ints: Carver<Int32Array>,
): AllocationTape {
  return {
    retention: floats.take(n),
    unwritten: floats.take(n),
    headUsage: floats.take(heads * n),
    order: ints.take(heads * n),
    sorted: floats.take(heads * n),
    products: floats.take(heads * n),
  };
}

let keyBuffer = new Float64Array(0);
const bits = new Float32Array(1);
const bitsAsInt = new Int32Array(bits.buffer);

/**
 * Sort keys of n slots, [n], ascending: the bits of u' as float32 (which order like the
 * values), times a power of two above n, plus the slot, so that a plain numeric sort orders by
 * u' and then by slot (a comparator sort of slot indices took 4x as long). The keys are
 * distinct, so every correct sort gives the same order. `hint`, a permutation of the slots
 * (the free list of the step before, which the usage changes little), lists them nearly in
 * order: an insertion sort from it takes a fraction of a full sort, and one that has to move
 * the keys much further than that (a hint far from the order) gives way to the full sort.
 */
function sortKeys(
  shifted: ArrayLike<number>,
  n: number,
  hint: ArrayLike<number> | null,
): { keys: Float64Array; radix: number } {
  if (keyBuffer.length < n) keyBuffer = new Float64Array(n);
  const keys = keyBuffer.subarray(0, n);
  const radix = 2 ** Math.ceil(Math.log2(n + 1));
  for (let k = 0; k < n; k++) {
    const i = hint === null ? k : (hint[k] as number);
    bits[0] = shifted[i] as number;
    const b = bitsAsInt[0] as number;
    keys[k] = (b >= 0 ? b : -(b & 0x7fffffff)) * radix + i; // negative floats order reversed
  }
  if (hint === null) return { keys: keys.sort(), radix };
  let budget = 8 * n; // moves an insertion sort may make before the full sort takes over
  for (let k = 1; k < n && budget >= 0; k++) {
    const key = keys[k] as number;
    let j = k - 1;
    for (; j >= 0 && (keys[j] as number) > key; j--) keys[j + 1] = keys[j] as number;
    keys[j + 1] = key;
    budget -= k - 1 - j;
  }
  return { keys: budget < 0 ? keys.sort() : keys, radix };
}

const f32 = Math.fround;
// u' = eps + (1 - eps) u in float32, as the reference computes it: the sort order of equal
// usages (the all-zero memory) then breaks ties the same way, by slot.
const EPS32 = f32(ALLOCATION_EPSILON);
const KEEP32 = f32(1 - ALLOCATION_EPSILON);

/**
 * The arrays of one example's retention, usage and allocation. A step builds one record and
 * points its arrays at each example in turn, so the loop over the batch allocates no record.
 */
export interface AllocationStep {
  /**
   * The SIMD runtime of the per-slot passes (float32; `simd-allocation.ts`), or undefined for
   * the JS reference (float64). Used only when N is a multiple of 4.
   */
  readonly runtime: SimdRuntime | undefined;
  /** N, the number of memory slots. */
  readonly slots: number;
  /** R, the number of read heads. */
  readonly readHeads: number;
  /** H, the number of write heads. */
  readonly writeHeads: number;
  /** u_{t-1}, [N]. */
  prevUsage: Float32Array;
  /** w^w_{t-1}, [H, N] (forward only). */
  prevWrites: Float32Array;
  /** w^r_{t-1}, [R, N]. */
  prevReads: Float32Array;
  /** f, [R]. */
  freeGates: ArrayLike<number>;
  /** g^a g^w per write head, [H]. */
  gates: ArrayLike<number>;
  /** u_t, [N], written by the forward pass (forward only). */
  usage: Float32Array;
  /** a_t, [H, N], written by the forward pass, read by the backward one. */
  allocation: Float32Array;
  /** The example's tape, written by the forward pass, read by the backward one. */
  tape: AllocationTape;
  /**
   * The free lists of the step before, [H, N] (forward only), or null: a hint that makes the
   * sort faster, never a change to its result.
   */
  freeListHint: Int32Array | null;
}

/** Retention psi, q = prod (1 - w^w_{t-1}) and usage u_t of {@link allocationForward}, in JS. */
function usageJs(step: AllocationStep): void {
  const { slots: n, readHeads: r, writeHeads: h, prevUsage, prevWrites, prevReads } = step;
  const { freeGates, usage } = step;
  const { retention, unwritten } = step.tape;
  for (let i = 0; i < n; i++) {
    let psi = 1;
    for (let k = 0; k < r; k++)
      psi *= 1 - (freeGates[k] as number) * (prevReads[k * n + i] as number);
    let q = 1;
    for (let k = 0; k < h; k++) q *= 1 - (prevWrites[k * n + i] as number);
    retention[i] = psi;
    unwritten[i] = q;
    usage[i] = (1 - (1 - (prevUsage[i] as number)) * q) * psi; // (u + w - u w) psi
  }
}

/** The same in SIMD. */
function usageSimd(runtime: SimdRuntime, step: AllocationStep): void {
  const { slots: n, readHeads: r, writeHeads: h, prevUsage, prevWrites, prevReads } = step;
  const { freeGates, usage } = step;
  const { retention, unwritten } = step.tape;
  const call = runtime.begin();
  const at = {
    retention: call.output(retention, n),
    unwritten: call.output(unwritten, n),
    usage: call.output(usage, n),
  };
  allocationKernelExports(runtime).allocationUsage(
    n,
    r,
    h,
    call.input(prevUsage, n),
    call.input(prevWrites, h * n),
    call.input(prevReads, r * n),
    call.input(freeGates, r),
    at.retention,
    at.unwritten,
    at.usage,
  );
  call.read(at.retention, n, retention);
  call.read(at.unwritten, n, unwritten);
  call.read(at.usage, n, usage);
}

/**
 * Retention psi, usage u_t and the allocation weighting of every write head, written to
 * `step.usage`, `step.allocation` and `step.tape`.
 */
export function allocationForward(step: AllocationStep): void {
  const { slots: n, writeHeads: h, gates, usage, allocation, tape } = step;
  const { headUsage, order, sorted, products } = tape;
  const runtime = n % 4 === 0 ? step.runtime : undefined;
  if (runtime) usageSimd(runtime, step);
  else usageJs(step);
  headUsage.set(usage.subarray(0, n));
  const shifted = scratch('allocation.shifted', n);
  for (let head = 0; head < h; head++) {
    const base = head * n;
    for (let i = 0; i < n; i++)
      shifted[i] = f32(EPS32 + f32(KEEP32 * (headUsage[base + i] as number)));
    // The free list: ascending u', ties by slot. No gradient flows through the order.
    const hint = step.freeListHint && step.freeListHint.subarray(base, base + n);
    const { keys, radix } = sortKeys(shifted, n, hint);
    let product = 1;
    for (let j = 0; j < n; j++) {
      const key = keys[j] as number;
      const slot = key - Math.floor(key / radix) * radix;
      const s = shifted[slot] as number;
      order[base + j] = slot;
      sorted[base + j] = s;
      products[base + j] = product;
      allocation[base + slot] = (1 - s) * product;
      product *= s;
    }
    if (head + 1 < h) {
      // The next head allocates from the usage this one leaves: u + (1 - u) g a.
      const g = gates[head] as number;
      for (let i = 0; i < n; i++) {
        const u = headUsage[base + i] as number;
        headUsage[base + n + i] = u + (1 - u) * g * (allocation[base + i] as number);
      }
    }
  }
}

/** The gradient buffers of {@link allocationBackward}, pointed at one example. */
export interface AllocationGradients {
  /** dL/du_t from later uses, [N]. */
  dUsage: Float32Array;
  /** dL/da_t, [H, N]; modified (the head chain adds to it). */
  dAllocation: Float32Array;
  /** dL/du_{t-1}, [N], written. */
  dPrevUsage: Float32Array;
  /** dL/dw^r_{t-1}, [R, N], added to. */
  dPrevReads: Float32Array;
  /** dL/df, [R], written. */
  dFreeGates: Float32Array;
  /** dL/d(g^a g^w), [H], written. */
  dGates: Float32Array;
  /** dL/dpsi from elsewhere (deallocation), [N], or null. */
  dRetention: Float32Array | null;
}

/**
 * Gradients of {@link allocationForward}. No gradient flows into w^w_{t-1} (deepmind/dnc), so
 * `step.prevWrites` and `step.usage` are not read.
 */
export function allocationBackward(step: AllocationStep, grads: AllocationGradients): void {
  const { slots: n, writeHeads: h, gates, allocation, tape } = step;
  const { dAllocation, dGates } = grads;
  const { headUsage, order, sorted, products } = tape;
  const dHeadUsage = scratch('allocation.dHeadUsage', h * n);
  dGates.fill(0, 0, h);
  for (let head = h - 1; head >= 0; head--) {
    const base = head * n;
    // a[phi_j] = (1 - s_j) c_j with s = u' sorted and c its exclusive cumulative product:
    // ds_j = -g_j c_j + (sum_{k>j} g_k (1 - s_k) c_k) / s_j  (s_j >= eps > 0)
    let tail = 0;
    for (let j = n - 1; j >= 0; j--) {
      const slot = order[base + j] as number;
      const g = dAllocation[base + slot] as number;
      const s = sorted[base + j] as number;
      const c = products[base + j] as number;
      const ds = tail / s - g * c;
      dHeadUsage[base + slot] = (dHeadUsage[base + slot] as number) + (1 - ALLOCATION_EPSILON) * ds;
      tail += g * (1 - s) * c;
    }
    if (head > 0) {
      // headUsage[head] = u + (1 - u) g a with u, a, g of the head before
      const prev = base - n;
      const g = gates[head - 1] as number;
      let dGate = 0;
      for (let i = 0; i < n; i++) {
        const d = dHeadUsage[base + i] as number;
        const u = headUsage[prev + i] as number;
        const a = allocation[prev + i] as number;
        dHeadUsage[prev + i] = (dHeadUsage[prev + i] as number) + d * (1 - g * a);
        dAllocation[prev + i] = (dAllocation[prev + i] as number) + d * (1 - u) * g;
        dGate += d * (1 - u) * a;
      }
      dGates[head - 1] = dGate;
    }
  }
  const runtime = n % 4 === 0 ? step.runtime : undefined;
  if (runtime) retentionBackwardSimd(runtime, step, grads, dHeadUsage);
  else retentionBackwardJs(step, grads, dHeadUsage);
}

/** The gradients through usage and retention of {@link allocationBackward}, in SIMD. */
function retentionBackwardSimd(
  runtime: SimdRuntime,
  step: AllocationStep,
  grads: AllocationGradients,
  dHeadUsage: Float64Array,
): void {
  const { slots: n, readHeads: r, prevUsage, prevReads, freeGates } = step;
  const { dUsage, dPrevUsage, dPrevReads, dFreeGates, dRetention } = grads;
  const { retention, unwritten } = step.tape;
  const call = runtime.begin();
  const at = {
    dPrevUsage: call.output(dPrevUsage, n),
    dPrevReads: call.input(dPrevReads, r * n),
    dFreeGates: call.zeros(4 * r),
  };
  allocationKernelExports(runtime).retentionBackward(
    n,
    r,
    call.input(dUsage, n),
    call.input(dHeadUsage, n),
    call.input(unwritten, n),
    call.input(retention, n),
    call.input(prevUsage, n),
    dRetention ? call.input(dRetention, n) : call.zeros(n),
    call.input(prevReads, r * n),
    call.input(freeGates, r),
    call.zeros(4 * r),
    at.dPrevUsage,
    at.dPrevReads,
    at.dFreeGates,
  );
  call.read(at.dPrevUsage, n, dPrevUsage);
  call.read(at.dPrevReads, r * n, dPrevReads);
  const heap = runtime.heap;
  for (let k = 0; k < r; k++) {
    const lane = (at.dFreeGates >> 2) + 4 * k;
    dFreeGates[k] =
      (heap[lane] as number) +
      (heap[lane + 1] as number) +
      ((heap[lane + 2] as number) + (heap[lane + 3] as number));
  }
}

/** The gradients through usage and retention of {@link allocationBackward}, in JS. */
function retentionBackwardJs(
  step: AllocationStep,
  grads: AllocationGradients,
  dHeadUsage: Float64Array,
): void {
  const { slots: n, readHeads: r, prevUsage, prevReads, freeGates } = step;
  const { dUsage, dPrevUsage, dPrevReads, dFreeGates, dRetention } = grads;
  const { retention, unwritten } = step.tape;
  const dPsi = scratch('allocation.dPsi', n);
  for (let i = 0; i < n; i++) {
    const du = (dUsage[i] as number) + (dHeadUsage[i] as number);
    const q = unwritten[i] as number;
    dPrevUsage[i] = du * q * (retention[i] as number);
    dPsi[i] =
      du * (1 - (1 - (prevUsage[i] as number)) * q) + (dRetention ? (dRetention[i] as number) : 0);
  }
  // psi = prod_k (1 - f_k x_k): with P_k the product of the other factors (exact when a
  // factor is 0), dL/df_k = -sum_i dpsi_i P_k,i x_k,i and dL/dx_k = -dpsi P_k f_k.
  dFreeGates.fill(0, 0, r);
  const factors = scratch('allocation.factors', r);
  for (let i = 0; i < n; i++) {
    const d = dPsi[i] as number;
    if (d === 0) continue;
    for (let k = 0; k < r; k++)
      factors[k] = 1 - (freeGates[k] as number) * (prevReads[k * n + i] as number);
    for (let k = 0; k < r; k++) {
      let others = 1;
      for (let l = 0; l < r; l++) if (l !== k) others *= factors[l] as number;
      const x = prevReads[k * n + i] as number;
      dFreeGates[k] = (dFreeGates[k] as number) - d * others * x;
      dPrevReads[k * n + i] =
        (dPrevReads[k * n + i] as number) - d * others * (freeGates[k] as number);
    }
  }
}
