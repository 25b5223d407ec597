import type { FusedStepSpec } from './spec.js';
import { linkKernelsFor, type DenseLinkKernels } from './link-kernels.js';
import { freshArrays, type Allocator } from '@mann/core/fused';

/** A temporal link as arrays: dense [B, H, N, N], or sparse values and columns [B, H, N, K]. */
export interface LinkArrays {
  readonly values: Float32Array;
  /** Sparse links only: the column of each stored value. */
  readonly columns: Int32Array | null;
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
  /**
   * Example `b`: `next` from `prev`, and f and b through `next`.
   *
   * @param writes - w^w_t of the example, [H, N]
   * @param prevPrecedence - p_{t-1}, [H, N]
   * @param prevReads - w^r_{t-1}, [R, N]
   * @param forward - f, [H, R, N], written
   * @param backward - b, [H, R, N], written
   */
  forward(
    tape: unknown,
    b: number,
    prev: LinkArrays,
    next: LinkArrays,
    writes: Float32Array,
    prevPrecedence: Float32Array,
    prevReads: Float32Array,
    forward: Float32Array,
    backward: Float32Array,
  ): void;
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
  backward(
    state: LinkBackward,
    b: number,
    writes: Float32Array,
    prevPrecedence: Float32Array,
    prevReads: Float32Array,
    dForward: Float32Array,
    dBackward: Float32Array,
    dWrites: Float32Array,
    dPrevPrecedence: Float32Array,
    dPrevReads: Float32Array,
  ): void;
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
    forward(_tape, b, prev, next, writes, prevPrecedence, prevReads, forward, backward) {
      for (let head = 0; head < h; head++) {
        const at = (b * h + head) * square;
        k.forward(
          n,
          r,
          prev.values.subarray(at, at + square),
          next.values.subarray(at, at + square),
          writes.subarray(head * n, (head + 1) * n),
          prevPrecedence.subarray(head * n, (head + 1) * n),
          prevReads,
          forward.subarray(head * r * n, (head + 1) * r * n),
          backward.subarray(head * r * n, (head + 1) * r * n),
        );
      }
    },
    beginBackward(tape, _batch, prev, next, dNext) {
      // dL_t becomes dL_{t-1} in place, row by row
      return { dPrev: dNext ?? new Float32Array(prev.values.length), tape, prev, next, dNext };
    },
    backward(
      state,
      b,
      writes,
      prevPrecedence,
      prevReads,
      dForward,
      dBackward,
      dWrites,
      dPrevPrecedence,
      dPrevReads,
    ) {
      for (let head = 0; head < h; head++) {
        const at = (b * h + head) * square;
        const slice = (x: Float32Array): Float32Array => x.subarray(head * n, (head + 1) * n);
        k.backward(
          n,
          r,
          state.prev.values.subarray(at, at + square),
          slice(writes),
          slice(prevPrecedence),
          prevReads,
          dForward.subarray(head * r * n, (head + 1) * r * n),
          dBackward.subarray(head * r * n, (head + 1) * r * n),
          state.dPrev.subarray(at, at + square),
          slice(dWrites),
          slice(dPrevPrecedence),
          dPrevReads,
        );
      }
    },
    endBackward: () => undefined,
  };
}
