import * as tf from '@tensorflow/tfjs';
import { checkShape, customGradient, invalidArgument } from '@mann/core';
import { gatherLastAxis, scatterAddLastAxis } from './ops.js';

/** eps of `u' = eps + (1 - eps) u`: keeps the cumulative product's factors > 0 (deepmind/dnc). */
export const ALLOCATION_EPSILON = 1e-6;

/** How the free list is applied: see {@link AllocationOptions.permutation}. */
export const ALLOCATION_PERMUTATIONS = ['matmul', 'gather'] as const;

/** Options of {@link allocationWeighting}. */
export interface AllocationOptions {
  /**
   * `matmul` (default, the reference): sort and unsort with a one-hot N x N permutation P
   * (`P u`, `P^T a`), O(N^2) per step. `gather`: sort with a gather and unsort with a
   * scatter-add, O(N log N) per step (used with sparse links). Both give the same values and
   * gradients.
   */
  readonly permutation?: (typeof ALLOCATION_PERMUTATIONS)[number];
}

/** Sorting and unsorting along the free list: by one-hot matMul or by gather/scatter. */
interface FreeList {
  /** x in free-list order. */
  sort(x: tf.Tensor2D): tf.Tensor2D;
  /** x from free-list order back to slot order. */
  unsort(x: tf.Tensor2D): tf.Tensor2D;
}

function freeList(order: tf.Tensor2D, permutation: AllocationOptions['permutation']): FreeList {
  const slots = order.shape[1];
  if (permutation === 'gather') {
    return {
      sort: (x) => gatherLastAxis(x, order),
      unsort: (x) => scatterAddLastAxis(x, order, slots),
    };
  }
  // oneHot's dtype argument is ignored on wasm (1 comes back as the bit pattern 1.4e-45),
  // so the one-hot is made int32 and cast. P[b, j, i] = 1 when i = order[b, j].
  const p = tf.cast(tf.oneHot(order, slots), 'float32') as tf.Tensor3D;
  return {
    sort: (x) => tf.matMul(p, x.expandDims(2)).squeeze([2]),
    unsort: (x) => tf.matMul(p, x.expandDims(2), true, false).squeeze([2]),
  };
}

// The allocation as one op with a hand-written gradient (the automatic one launches ~60
// kernels). With s = sorted u', c = exclusive cumprod of s, a_sorted = (1 - s) c and
// g = dL/da in free-list order:
//   dL/ds_i = -g_i c_i + (sum_{j>i} g_j (1 - s_j) c_j) / s_i        (s_i >= eps > 0)
// and dL/du = (1 - eps) unsort(dL/ds). No gradient flows through the order itself.
function allocationOp(permutation: AllocationOptions['permutation']) {
  return customGradient<[tf.Tensor]>(([usage], save) => {
    const shifted = tf.add(
      ALLOCATION_EPSILON,
      tf.mul(1 - ALLOCATION_EPSILON, usage),
    ) as tf.Tensor2D;
    const slots = shifted.shape[1];
    const order = tf.topk(tf.neg(shifted), slots).indices as tf.Tensor2D; // phi, ties: lowest slot first
    const list = freeList(order, permutation);
    const sorted = list.sort(shifted);
    const products = tf.cumprod(sorted, 1, true);
    save([order, sorted, products]);
    return {
      value: list.unsort(tf.mul(tf.sub(1, sorted), products)),
      gradFunc: (dy, saved) => {
        const [o, s, c] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const back = freeList(o, permutation);
        const g = back.sort(dy as tf.Tensor2D);
        const tail = tf.cumsum(tf.mul(tf.mul(g, tf.sub(1, s)), c), 1, true, true);
        const dSorted = tf.sub(tf.div(tail, s), tf.mul(g, c)) as tf.Tensor2D;
        return tf.mul(1 - ALLOCATION_EPSILON, back.unsort(dSorted));
      },
    };
  });
}

const allocationOps = { matmul: allocationOp('matmul'), gather: allocationOp('gather') };

/**
 * Allocation weighting (docs/spec.md section 3 step 3; DNC paper, methods): with
 * `u' = eps + (1 - eps) u` and phi the slots sorted by ascending u' (the free list),
 * `a[phi_j] = (1 - u'[phi_j]) prod_{i<j} u'[phi_i]`. No gradient flows through the sort
 * order (it is piecewise constant); the gradient does flow through the usage values, through
 * the permutation and the exclusive cumulative product (a hand-written gradient: TF.js has no
 * gradient for Cumprod or TopK). Ties are sorted by slot index, lowest first.
 *
 * @param usage - u_t, [B, N], in [0, 1]
 * @returns a_t, [B, N]; each row sums to at most 1
 */
export function allocationWeighting(
  usage: tf.Tensor2D,
  options: AllocationOptions = {},
): tf.Tensor2D {
  checkShape('usage', usage, [null, null], '[B, N]');
  const permutation = options.permutation ?? 'matmul';
  if (!ALLOCATION_PERMUTATIONS.includes(permutation)) {
    throw invalidArgument(
      'permutation',
      permutation,
      `one of ${ALLOCATION_PERMUTATIONS.join(', ')}`,
    );
  }
  return allocationOps[permutation](usage) as tf.Tensor2D;
}

/**
 * Allocation weightings of several write heads in one step, as deepmind/dnc: head h
 * allocates from the usage left after heads 0..h-1 have written their allocations,
 * `u <- u + (1 - u) g_h a_h` with `g_h = g^a_h g^w_h`.
 *
 * @param usage - u_t, [B, N]
 * @param allocationWriteGates - g^a g^w per write head, [B, Hw]
 * @returns [B, Hw, N]
 */
export function writeAllocationWeightings(
  usage: tf.Tensor2D,
  allocationWriteGates: tf.Tensor2D,
  options: AllocationOptions = {},
): tf.Tensor3D {
  checkShape('usage', usage, [null, null], '[B, N]');
  checkShape('allocationWriteGates', allocationWriteGates, [usage.shape[0], null], '[B, Hw]');
  const heads = allocationWriteGates.shape[1];
  return tf.tidy(() => {
    if (heads === 1) return allocationWeighting(usage, options).expandDims(1) as tf.Tensor3D;
    const gates = tf.unstack(allocationWriteGates, 1);
    const allocations: tf.Tensor2D[] = [];
    let u = usage;
    gates.forEach((gate, h) => {
      const a = allocationWeighting(u, options);
      allocations.push(a);
      if (h < heads - 1) u = tf.add(u, tf.mul(tf.sub(1, u), tf.mul(gate.expandDims(1), a)));
    });
    return tf.stack(allocations, 1) as tf.Tensor3D;
  });
}
