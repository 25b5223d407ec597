import { acquireSimdRuntime, simdRuntime, type SimdRuntime } from '@mann/core/fused';
import { linkKernelExports } from './simd-link.js';

// The O(N^2) part of a DNC step: the dense temporal link update and the forward and backward
// weightings read through it (docs/spec.md section 3 steps 6-7), forward and backward, for one example
// and one write head. Everything else in a step is O(N W) or O(N R); at the default size these
// two passes are ~80% of the arithmetic of a training step. Two implementations with the same
// contract: plain JS loops (the reference, and the fallback), and WebAssembly SIMD built at
// run time by `@mann/core/fused`'s assembler (~6x faster than the JS loops here, and no kernel launches).
//
// n = N slots, r = R read heads. Matrices are row-major [N, N]; per-head vectors [R, N].

/**
 * The arrays of {@link DenseLinkKernels.forward}: one example, one write head; n = N slots,
 * r = R read heads.
 */
export interface LinkKernelForward {
  readonly n: number;
  readonly r: number;
  /** L_{t-1}, [N, N] */
  readonly prev: Float32Array;
  /** L_t, [N, N], written */
  readonly next: Float32Array;
  /** w^w_t, [N] */
  readonly write: Float32Array;
  /** p_{t-1}, [N] */
  readonly precedence: Float32Array;
  /** w^r_{t-1}, [R, N] */
  readonly reads: Float32Array;
  /** f, [R, N], written */
  readonly forward: Float32Array;
  /** b, [R, N], written */
  readonly backward: Float32Array;
}

/** The arrays of {@link DenseLinkKernels.backward}, with `prev`, `write`, `precedence` and `reads` as forward. */
export interface LinkKernelBackward {
  readonly n: number;
  readonly r: number;
  readonly prev: Float32Array;
  /** L_t, [N, N]: the forward's `next` (the SIMD kernel reads it; the JS loops recompute it) */
  readonly next: Float32Array;
  readonly write: Float32Array;
  readonly precedence: Float32Array;
  readonly reads: Float32Array;
  /** dL/df, [R, N] */
  readonly dForward: Float32Array;
  /** dL/db, [R, N] */
  readonly dBackward: Float32Array;
  /** in: dL_t, out: dL_{t-1}, [N, N] */
  readonly grad: Float32Array;
  /** dL/dw^w, [N], added to */
  readonly dWrite: Float32Array;
  /** dL/dp_{t-1}, [N], added to */
  readonly dPrecedence: Float32Array;
  /** dL/dw^r_{t-1}, [R, N], added to */
  readonly dReads: Float32Array;
}

/** The dense link passes of one example and one write head. */
export interface DenseLinkKernels {
  /** `'simd'` (WebAssembly) or `'js'`. */
  readonly kind: 'simd' | 'js';
  /**
   * `L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p[j]` with `L_t[i, i] = 0`, then
   * `f[r] = L_t w^r` and `b[r] = L_t^T w^r`.
   */
  forward(a: LinkKernelForward): void;
  /**
   * The gradient of {@link DenseLinkKernels.forward}. With G = (dL_t + dF^T w^r + (w^r)^T dB)
   * off the diagonal (0 on it): `dL_{t-1} = (1 - w[i] - w[j]) G` replaces `grad` in place, and
   * `dw[i] += sum_j G[i, j] (p[j] - L_{t-1}[i, j]) - sum_j G[j, i] L_{t-1}[j, i]`,
   * `dp[j] += sum_i G[i, j] w[i]`, `dw^r[j] += sum_i dF[i] L_t[i, j] + dB[i] L_t[j, i]` are
   * added to.
   */
  backward(a: LinkKernelBackward): void;
}

/** The JS loops: the reference of the SIMD kernels, and the fallback without WebAssembly SIMD. */
export const jsLinkKernels: DenseLinkKernels = {
  kind: 'js',
  forward({ n, r, prev, next, write, precedence, reads, forward, backward }) {
    backward.fill(0, 0, r * n);
    for (let i = 0; i < n; i++) {
      const wi = write[i] as number;
      const row = i * n;
      for (let j = 0; j < n; j++) {
        next[row + j] =
          (1 - wi - (write[j] as number)) * (prev[row + j] as number) +
          wi * (precedence[j] as number);
      }
      next[row + i] = 0;
      for (let k = 0; k < r; k++) {
        const v = k * n;
        const vi = reads[v + i] as number;
        let sum = 0;
        for (let j = 0; j < n; j++) {
          const l = next[row + j] as number;
          sum += l * (reads[v + j] as number);
          backward[v + j] = (backward[v + j] as number) + l * vi;
        }
        forward[v + i] = sum;
      }
    }
  },
  backward({
    n,
    r,
    prev,
    write,
    precedence,
    reads,
    dForward,
    dBackward,
    grad,
    dWrite,
    dPrecedence,
    dReads,
  }) {
    const link = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const wi = write[i] as number;
      const row = i * n;
      for (let j = 0; j < n; j++) {
        link[j] =
          (1 - wi - (write[j] as number)) * (prev[row + j] as number) +
          wi * (precedence[j] as number);
      }
      link[i] = 0;
      for (let k = 0; k < r; k++) {
        const v = k * n;
        const df = dForward[v + i] as number;
        const vi = reads[v + i] as number;
        for (let j = 0; j < n; j++) {
          grad[row + j] =
            (grad[row + j] as number) +
            df * (reads[v + j] as number) +
            vi * (dBackward[v + j] as number);
        }
      }
      grad[row + i] = 0;
      let dwi = 0;
      for (let j = 0; j < n; j++) {
        const g = grad[row + j] as number;
        const lp = prev[row + j] as number;
        grad[row + j] = (1 - wi - (write[j] as number)) * g;
        dwi += g * ((precedence[j] as number) - lp);
        dWrite[j] = (dWrite[j] as number) - g * lp;
        dPrecedence[j] = (dPrecedence[j] as number) + g * wi;
      }
      dWrite[i] = (dWrite[i] as number) + dwi;
      for (let k = 0; k < r; k++) {
        const v = k * n;
        const df = dForward[v + i] as number;
        let sum = 0;
        for (let j = 0; j < n; j++) {
          const l = link[j] as number;
          dReads[v + j] = (dReads[v + j] as number) + df * l;
          sum += (dBackward[v + j] as number) * l;
        }
        dReads[v + i] = (dReads[v + i] as number) + sum;
      }
    }
  },
};

/**
 * The SIMD kernels on `runtime`; N must be a multiple of 4. Link arrays that are views of the
 * runtime's memory are used in place (no copies).
 */
export function simdLinkKernelsOn(runtime: SimdRuntime): DenseLinkKernels {
  let kernels = kernelsByRuntime.get(runtime);
  if (!kernels) {
    kernels = createSimdLinkKernels(runtime);
    kernelsByRuntime.set(runtime, kernels);
  }
  return kernels;
}

const kernelsByRuntime = new WeakMap<SimdRuntime, DenseLinkKernels>();

function createSimdLinkKernels(runtime: SimdRuntime): DenseLinkKernels {
  return {
    kind: 'simd',
    forward({ n, r, prev, next, write, precedence, reads, forward, backward }) {
      const { linkForward } = linkKernelExports(runtime, r, n);
      const call = runtime.begin();
      const at = {
        prev: call.input(prev, n * n),
        next: call.output(next, n * n),
        write: call.input(write, n),
        precedence: call.input(precedence, n),
        reads: call.input(reads, r * n),
        forward: call.cleared(forward, r * n),
        backward: call.cleared(backward, r * n),
      };
      linkForward(n, at.prev, at.next, at.write, at.precedence, at.reads, at.forward, at.backward);
      call.read(at.next, n * n, next);
      call.read(at.forward, r * n, forward);
      call.read(at.backward, r * n, backward);
    },
    backward({
      n,
      r,
      prev,
      next,
      write,
      precedence,
      reads,
      dForward,
      dBackward,
      grad,
      dWrite,
      dPrecedence,
      dReads,
    }) {
      const { linkBackward } = linkKernelExports(runtime, r, n);
      const call = runtime.begin();
      const at = {
        prev: call.input(prev, n * n),
        next: call.input(next, n * n),
        grad: call.input(grad, n * n),
        write: call.input(write, n),
        precedence: call.input(precedence, n),
        reads: call.input(reads, r * n),
        dForward: call.input(dForward, r * n),
        dBackward: call.input(dBackward, r * n),
        dWrite: call.input(dWrite, n),
        dPrecedence: call.input(dPrecedence, n),
        dReads: call.input(dReads, r * n),
      };
      linkBackward(
        n,
        at.prev,
        at.next,
        at.grad,
        at.write,
        at.precedence,
        at.reads,
        at.dForward,
        at.dBackward,
        at.dWrite,
        at.dPrecedence,
        at.dReads,
      );
      call.read(at.grad, n * n, grad);
      call.read(at.dWrite, n, dWrite);
      call.read(at.dPrecedence, n, dPrecedence);
      call.read(at.dReads, r * n, dReads);
    },
  };
}

let simd: DenseLinkKernels | undefined | null = null;

/** The SIMD kernels where WebAssembly SIMD is available (built once), else undefined. */
export function simdLinkKernels(): DenseLinkKernels | undefined {
  if (simd === null) {
    const runtime = simdRuntime();
    simd = runtime ? simdLinkKernelsOn(runtime) : undefined;
  }
  return simd;
}

/** The fastest kernels for N slots: SIMD when available and N is a multiple of 4, else JS. */
export function linkKernelsFor(n: number): DenseLinkKernels {
  const fast = n % 4 === 0 ? simdLinkKernels() : undefined;
  return fast ?? jsLinkKernels;
}

/**
 * Dense links of a whole sequence (every step's, kept for the backward pass) up to this many
 * bytes live in a WebAssembly memory of their own, where the link kernels use them in place;
 * larger ones are copied in and out of the kernels' memory per call. The sequence's other
 * arrays join them while both fit in this many bytes together.
 */
const RESIDENT_LINK_BYTES = 256 * 2 ** 20;

/**
 * A runtime of its own for the T + 1 dense links of a sequence and their gradient, each
 * `linkFloats` floats, and room for a kernel call's own arrays, when the links fit in
 * {@link RESIDENT_LINK_BYTES} and SIMD is available (undefined otherwise); with room for
 * `tapeFloats` more (the sequence's other arrays, see `ResidentArrays`) when links and those fit
 * in it together. Returns the runtime and the floats granted for the other arrays (0 or
 * `tapeFloats`); give the runtime back with `releaseSimdRuntime`.
 */
export function acquireLinkRuntime(
  linkFloats: number,
  steps: number,
  readHeads: number,
  slots: number,
  tapeFloats: number,
): { runtime: SimdRuntime; tapeFloats: number } | undefined {
  const links = (steps + 2) * linkFloats;
  if (slots % 4 !== 0 || links * 4 > RESIDENT_LINK_BYTES) return undefined;
  const granted = (links + tapeFloats) * 4 <= RESIDENT_LINK_BYTES ? tapeFloats : 0;
  const runtime = acquireSimdRuntime(links + granted + 16 * slots * (8 + 8 * readHeads) + 65536);
  return runtime && { runtime, tapeFloats: granted };
}
