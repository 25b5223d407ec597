import type { FusedStepSpec } from './spec.js';
import { linkKernelsFor, type DenseLinkKernels } from './link-kernels.js';
import { freshArrays, type Allocator } from '@mann/core/fused';

/** A temporal link as arrays: dense [B, H, N, N], or sparse values and columns [B, H, N, K]. */
export interface LinkArrays {
  readonly values: Float32Array;
  /** Sparse links only: the column of each stored value. */
  readonly columns: Int32Array | null;
}

/** The arrays of {@link LinkPass.forward} for one example. */
export interface LinkForwardArrays {
  readonly prev: LinkArrays;
  readonly next: LinkArrays;
  /** w^w_t of the example, [H, N] */
  readonly writes: Float32Array;
  /** p_{t-1}, [H, N] */
  readonly prevPrecedence: Float32Array;
  /** w^r_{t-1}, [R, N] */
  readonly prevReads: Float32Array;
  /** f, [H, R, N], written */
  readonly forward: Float32Array;
  /** b, [H, R, N], written */
  readonly backward: Float32Array;
}

/** The arrays of {@link LinkPass.backward} for one example: the forward's inputs and gradients. */
export interface LinkBackwardArrays {
  readonly writes: Float32Array;
  readonly prevPrecedence: Float32Array;
  readonly prevReads: Float32Array;
  /** dL/df, dL/db, [H, R, N] */
  readonly dForward: Float32Array;
  readonly dBackward: Float32Array;
  /** dL/dw^w_t, dL/dp_{t-1} [H, N] and dL/dw^r_{t-1} [R, N], added to */
  readonly dWrites: Float32Array;
  readonly dPrevPrecedence: Float32Array;
  readonly dPrevReads: Float32Array;
}

/**
 * The temporal link's part of a fused step (docs/spec.md section 3 steps 6-7): the link update from
 * the OLD precedence and the forward and backward weightings through the NEW link, for each
 * example and write head, forward and backward. Dense links here, sparse ones in
 * `sparse-link-pass.ts`.
 */
export interface LinkPass {
  /** Arrays for the next link of a batch (their contents are overwritten by `forward`). */
  allocate(batch: number, arrays?: Allocator): LinkArrays;
  /** Per-step state of the forward pass, kept on the step's tape. */
  beginForward(batch: number): unknown;
  /** Example `b`: `next` from `prev`, and f and b through `next`. */
  forward(tape: unknown, b: number, a: LinkForwardArrays): void;
  /**
   * Starts the backward pass; `dNext` (dL/d(next link values), or null when nothing used it)
   * may be overwritten. The result's `dPrev` receives dL/d(prev link values).
   */
  beginBackward(
    tape: unknown,
    batch: number,
    prev: LinkArrays,
    next: LinkArrays,
    dNext: Float32Array | null,
  ): LinkBackward;
  /** Example `b`: adds to dL/dw^w_t, dL/dp_{t-1}, dL/dw^r_{t-1}, fills its part of dPrev. */
  backward(state: LinkBackward, b: number, a: LinkBackwardArrays): void;
  endBackward(state: LinkBackward): void;
}

/** State of a link backward pass. */
export interface LinkBackward {
  /** dL/d(prev link values), same layout as the values. */
  readonly dPrev: Float32Array;
  readonly tape: unknown;
  readonly prev: LinkArrays;
  readonly next: LinkArrays;
  readonly dNext: Float32Array | null;
}

/** Dense links [B, H, N, N], through {@link DenseLinkKernels} (SIMD where available). */
export function denseLinkPass(spec: FusedStepSpec, kernels?: DenseLinkKernels): LinkPass {
  const { slots: n, readHeads: r, writeHeads: h } = spec;
  const k = kernels ?? linkKernelsFor(n);
  const square = n * n;
  return {
    allocate: (batch, arrays = freshArrays) => ({
      values: arrays.floats(batch * h * square),
      columns: null,
    }),
    beginForward: () => null,
    forward(_tape, b, a) {
      for (let head = 0; head < h; head++) {
        const at = (b * h + head) * square;
        const heads = head * r * n;
        k.forward({
          n,
          r,
          prev: a.prev.values.subarray(at, at + square),
          next: a.next.values.subarray(at, at + square),
          write: a.writes.subarray(head * n, (head + 1) * n),
          precedence: a.prevPrecedence.subarray(head * n, (head + 1) * n),
          reads: a.prevReads,
          forward: a.forward.subarray(heads, heads + r * n),
          backward: a.backward.subarray(heads, heads + r * n),
        });
      }
    },
    beginBackward(tape, _batch, prev, next, dNext) {
      // dL_t becomes dL_{t-1} in place, row by row
      return { dPrev: dNext ?? new Float32Array(prev.values.length), tape, prev, next, dNext };
    },
    backward(state, b, a) {
      for (let head = 0; head < h; head++) {
        const at = (b * h + head) * square;
        const heads = head * r * n;
        const slice = (x: Float32Array): Float32Array => x.subarray(head * n, (head + 1) * n);
        k.backward({
          n,
          r,
          prev: state.prev.values.subarray(at, at + square),
          next: state.next.values.subarray(at, at + square),
          write: slice(a.writes),
          precedence: slice(a.prevPrecedence),
          reads: a.prevReads,
          dForward: a.dForward.subarray(heads, heads + r * n),
          dBackward: a.dBackward.subarray(heads, heads + r * n),
          grad: state.dPrev.subarray(at, at + square),
          dWrite: slice(a.dWrites),
          dPrecedence: slice(a.dPrevPrecedence),
          dReads: a.dPrevReads,
        });
      }
    },
    endBackward: () => undefined,
  };
}
