import { rowKernelExports, type RowKernelExports } from './simd-kernels.js';
import type { SimdRuntime } from './simd.js';
import { scratch, scratch32 } from './scratch.js';
import type { RowKernels, Values } from './rows.js';

// Erase-and-write and the read vectors of one example, forward and backward: the memory
// update every memory network shares (the NTM's write heads and reads, the DNC's step 5 and 8
// of docs/spec.md section 3). n = N slots, w = W columns, h = H write heads, r = R read heads.
// One write head on SIMD row kernels runs the `mann.rows` module's eraseWrite kernels; every
// other case runs the JS loops below, which are also the reference they are tested against.

/**
 * The inputs of one example's erase and write. A step builds one record and points its arrays
 * at each example in turn, so the loop over the batch allocates no record per example.
 */
export interface EraseWrite {
  /** The row kernels for rows of W: SIMD ones select the SIMD kernel (one write head) on their runtime. */
  readonly rows: RowKernels;
  /** N, the number of memory slots. */
  readonly slots: number;
  /** W, the width of a memory row. */
  readonly width: number;
  /** H, the number of write heads. */
  readonly writeHeads: number;
  /** M_{t-1}, [N, W]. */
  prev: Float32Array;
  /** w^w_t, [H, N]. */
  writes: Float32Array;
  /** The erase vectors e_h, [H, W] from `eraseAt`. */
  erase: Values;
  eraseAt: number;
  /** The write (add) vectors v_h, [H, W] from `vectorsAt`. */
  vectors: Values;
  vectorsAt: number;
  /** psi, [N], or null without DNC-MD deallocation. */
  retention: Float32Array | null;
}

/**
 * `M_t = M_{t-1} * (psi 1^T) * prod_h (E - w_h e_h^T) + sum_h w_h v_h^T`: all heads erase,
 * then all add (psi only with DNC-MD deallocation).
 *
 * @param next - M_t, [N, W], written
 */
export function eraseAndWriteForward(inputs: EraseWrite, next: Float32Array): void {
  const { slots: n, width: w, writeHeads: h, prev, writes, erase, vectors, retention } = inputs;
  const { eraseAt, vectorsAt } = inputs;
  const simd = simdKernels(inputs);
  if (simd) {
    const call = simd.runtime.begin();
    const at = stage(call, inputs);
    const out = call.output(next, n * w);
    // prettier-ignore
    simd.kernels.eraseWrite(n, w, at.prev, out, at.writes, at.erase, at.vector, at.retention, retention ? 1 : 0);
    call.read(out, n * w, next);
    return;
  }
  if (h === 1) {
    for (let i = 0; i < n; i++) {
      const psi = retention ? (retention[i] as number) : 1;
      const weight = writes[i] as number;
      for (let c = 0; c < w; c++) {
        const keep = 1 - weight * (erase[eraseAt + c] as number);
        next[i * w + c] =
          (prev[i * w + c] as number) * psi * keep + weight * (vectors[vectorsAt + c] as number);
      }
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const psi = retention ? (retention[i] as number) : 1;
    for (let c = 0; c < w; c++) {
      let keep = psi;
      let add = 0;
      for (let k = 0; k < h; k++) {
        const weight = writes[k * n + i] as number;
        keep *= 1 - weight * (erase[eraseAt + k * w + c] as number);
        add += weight * (vectors[vectorsAt + k * w + c] as number);
      }
      next[i * w + c] = (prev[i * w + c] as number) * keep + add;
    }
  }
}

/** The gradient buffers of {@link eraseAndWriteBackward}, pointed at one example. */
export interface EraseWriteGradients {
  /** dL/dM_t, [N, W]. */
  dNext: Float32Array;
  /** dL/dM_{t-1}, [N, W], added to. */
  dPrev: Float32Array;
  /** dL/dw^w_t, [H, N], added to. */
  dWrites: Values;
  /** dL/de_h, added to at the inputs' `eraseAt` (may be the same array as `dVectors`). */
  dErase: Values;
  /** dL/dv_h, added to at the inputs' `vectorsAt`. */
  dVectors: Values;
  /** dL/dpsi, [N], added to (deallocation only; otherwise null). */
  dRetention: Float32Array | null;
}

/** The SIMD kernels for one write head on SIMD row kernels; undefined when the JS loops run. */
function simdKernels(
  inputs: EraseWrite,
): { runtime: SimdRuntime; kernels: RowKernelExports } | undefined {
  const runtime = inputs.writeHeads === 1 ? inputs.rows.runtime : undefined;
  const kernels = runtime && rowKernelExports(runtime, inputs.width);
  return runtime && kernels ? { runtime, kernels } : undefined;
}

/** One write head's inputs in the runtime's memory (views in place): their byte addresses. */
function stage(call: SimdRuntime, inputs: EraseWrite) {
  const { slots: n, width: w, prev, writes, erase, eraseAt, vectors, vectorsAt } = inputs;
  return {
    prev: call.input(prev, n * w),
    writes: call.input(writes, n),
    erase: call.input(erase.subarray(eraseAt, eraseAt + w), w),
    vector: call.input(vectors.subarray(vectorsAt, vectorsAt + w), w),
    retention: inputs.retention ? call.input(inputs.retention, n) : 0,
  };
}

/** Gradients of {@link eraseAndWriteForward}. */
export function eraseAndWriteBackward(inputs: EraseWrite, grads: EraseWriteGradients): void {
  const { slots: n, width: w, writeHeads: h, prev, writes, erase, vectors, retention } = inputs;
  const { eraseAt, vectorsAt } = inputs;
  const { dNext, dPrev, dWrites, dErase, dVectors, dRetention } = grads;
  const simd = simdKernels(inputs);
  if (simd) {
    const { runtime, kernels } = simd;
    const call = runtime.begin();
    const at = stage(call, inputs);
    const d = {
      dNext: call.input(dNext, n * w),
      dPrev: call.input(dPrev, n * w),
      dWrites: call.input(dWrites, n),
      dErase: call.zeros(w),
      dVector: call.zeros(w),
      dRetention: dRetention ? call.input(dRetention, n) : 0,
    };
    // prettier-ignore
    kernels.eraseWriteBackward(n, w, at.prev, at.writes, at.erase, at.vector, at.retention, retention ? 1 : 0,
      d.dNext, d.dPrev, d.dWrites, d.dErase, d.dVector, d.dRetention);
    call.read(d.dPrev, n * w, dPrev);
    call.read(d.dWrites, n, dWrites);
    if (dRetention) call.read(d.dRetention, n, dRetention);
    const heap = runtime.heap; // the kernel's sum for e has the opposite sign
    addVectorGrads(w, heap, d.dErase / 4, heap, d.dVector / 4, grads, inputs);
    return;
  }
  if (h === 1) {
    // one write head: M_t = M_{t-1} psi (1 - w e) + w v
    const erased = scratch('memory.dErase', w);
    const written = scratch('memory.dVector', w);
    for (let i = 0; i < n; i++) {
      const psi = retention === null ? 1 : (retention[i] as number);
      const weight = writes[i] as number;
      let dPsi = 0;
      let dWeight = 0;
      for (let c = 0; c < w; c++) {
        const d = dNext[i * w + c] as number;
        const old = prev[i * w + c] as number;
        const e = erase[eraseAt + c] as number;
        const keep = 1 - weight * e;
        dPrev[i * w + c] = (dPrev[i * w + c] as number) + d * psi * keep;
        const dOld = d * old;
        dPsi += dOld * keep;
        dWeight += d * (vectors[vectorsAt + c] as number) - dOld * psi * e;
        erased[c] = (erased[c] as number) + dOld * psi * weight;
        written[c] = (written[c] as number) + d * weight;
      }
      dWrites[i] = (dWrites[i] as number) + dWeight;
      if (dRetention !== null) dRetention[i] = (dRetention[i] as number) + dPsi;
    }
    addVectorGrads(w, erased, 0, written, 0, grads, inputs);
    return;
  }
  const factors = scratch('memory.factors', h);
  for (let i = 0; i < n; i++) {
    const psi = retention ? (retention[i] as number) : 1;
    let dPsi = 0;
    for (let c = 0; c < w; c++) {
      const d = dNext[i * w + c] as number;
      const old = prev[i * w + c] as number;
      let kept = 1; // prod_h (1 - w_h e_h)
      for (let k = 0; k < h; k++) {
        factors[k] = 1 - (writes[k * n + i] as number) * (erase[eraseAt + k * w + c] as number);
        kept *= factors[k] as number;
      }
      dPrev[i * w + c] = (dPrev[i * w + c] as number) + d * psi * kept;
      dPsi += d * old * kept;
      const dKept = d * old * psi;
      for (let k = 0; k < h; k++) {
        let others = 1;
        for (let l = 0; l < h; l++) if (l !== k) others *= factors[l] as number;
        const weight = writes[k * n + i] as number;
        const dFactor = dKept * others; // factor = 1 - w e
        const e = eraseAt + k * w + c;
        const v = vectorsAt + k * w + c;
        dWrites[k * n + i] =
          (dWrites[k * n + i] as number) -
          dFactor * (erase[e] as number) +
          d * (vectors[v] as number);
        dErase[e] = (dErase[e] as number) - dFactor * weight;
        dVectors[v] = (dVectors[v] as number) + d * weight;
      }
    }
    if (dRetention) dRetention[i] = (dRetention[i] as number) + dPsi;
  }
}

/** dL/de -= erased and dL/dv += written: one head's sums [W] from `erasedAt` and `writtenAt`. */
function addVectorGrads(
  w: number,
  erased: Values,
  erasedAt: number,
  written: Values,
  writtenAt: number,
  { dErase, dVectors }: EraseWriteGradients,
  { eraseAt, vectorsAt }: EraseWrite,
): void {
  for (let c = 0; c < w; c++) {
    dErase[eraseAt + c] = (dErase[eraseAt + c] as number) - (erased[erasedAt + c] as number);
    dVectors[vectorsAt + c] =
      (dVectors[vectorsAt + c] as number) + (written[writtenAt + c] as number);
  }
}

/**
 * The inputs of one example's reads. A step builds one record and points its arrays at each
 * example in turn, so the loop over the batch allocates no record.
 */
export interface ReadVectors {
  /** The row kernels for rows of W. */
  readonly rows: RowKernels;
  /** N, the number of memory slots. */
  readonly slots: number;
  /** W, the width of a memory row. */
  readonly width: number;
  /** R, the number of read heads. */
  readonly readHeads: number;
  /** The memory read, [N, W]. */
  memory: Float32Array;
  /** w^r, [R, N]. */
  weights: Float32Array;
}

/**
 * `r[k] = M^T w^r[k]`.
 *
 * @param reads - r, [R, W], written
 */
export function readVectorsForward(read: ReadVectors, reads: Values): void {
  const { rows, slots: n, width: w, readHeads: r, memory, weights } = read;
  reads.fill(0, 0, r * w);
  rows.mix(n, w, memory, weights, r, reads);
}

/** The gradient buffers of {@link readVectorsBackward}, pointed at one example. */
export interface ReadVectorsGradients {
  /** dL/dr, [R, W]. */
  dReads: Float32Array;
  /** dL/dM, [N, W], added to. */
  dMemory: Float32Array;
  /** dL/dw^r, [R, N], added to. */
  dWeights: Values;
}

/** Gradients of {@link readVectorsForward}. */
export function readVectorsBackward(read: ReadVectors, grads: ReadVectorsGradients): void {
  const { rows, slots: n, width: w, readHeads: r, memory, weights } = read;
  const { dReads, dMemory, dWeights } = grads;
  const products = scratch32('reads.products', r * n); // dr[k] . M[i]
  rows.dots(n, w, memory, dReads, r, products);
  for (let k = 0; k < r * n; k++) dWeights[k] = (dWeights[k] as number) + (products[k] as number);
  rows.update(n, w, dMemory, memory, weights, dReads, r, null);
}
