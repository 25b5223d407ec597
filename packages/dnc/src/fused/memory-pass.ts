import { rowKernelExports, scratch, scratch32, simdRuntime } from '@mann/core/fused';
import type { RowKernels } from '@mann/core/fused';

// Erase-and-write and the read vectors of one example (docs/spec.md section 3 steps 5 and 8), forward
// and backward, as `eraseAndWrite` and `readVectors` compute them. n = N, w = W, h = H write
// heads, r = R read heads. Erase and write vectors come from the activated interface vector.

/**
 * The inputs of one example's erase and write. A step builds one record and points its arrays
 * at each example in turn, so the loop over the batch allocates no record per example.
 */
export interface EraseWrite {
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
  /** The activated interface vector: e at `eraseAt` [H, W], v at `vectorsAt` [H, W]. */
  act: Float32Array;
  /** Offset of the erase vectors in `act`. */
  readonly eraseAt: number;
  /** Offset of the write vectors in `act`. */
  readonly vectorsAt: number;
  /** psi, [N], or null without DNC-MD deallocation. */
  retention: Float32Array | null;
}

/**
 * `M_t = M_{t-1} * (psi 1^T) * prod_h (E - w_h e_h^T) + sum_h w_h v_h^T` (psi only with
 * DNC-MD deallocation).
 *
 * @param next - M_t, [N, W], written
 */
export function eraseAndWriteForward(inputs: EraseWrite, next: Float32Array): void {
  const { slots: n, width: w, writeHeads: h, prev, writes, act, retention } = inputs;
  const erase = inputs.eraseAt;
  const vectors = inputs.vectorsAt;
  const runtime = h === 1 && w % 4 === 0 ? simdRuntime() : undefined;
  const kernels = runtime && rowKernelExports(runtime);
  if (runtime && kernels) {
    const call = runtime.begin();
    const at = {
      prev: call.input(prev, n * w),
      next: call.zeros(n * w),
      writes: call.input(writes, n),
      erase: call.input(act.subarray(erase, erase + w), w),
      vector: call.input(act.subarray(vectors, vectors + w), w),
      retention: retention ? call.input(retention, n) : 0,
    };
    kernels.eraseWrite(
      n,
      w,
      at.prev,
      at.next,
      at.writes,
      at.erase,
      at.vector,
      at.retention,
      retention ? 1 : 0,
    );
    call.read(at.next, n * w, next);
    return;
  }
  if (h === 1) {
    for (let i = 0; i < n; i++) {
      const psi = retention ? (retention[i] as number) : 1;
      const weight = writes[i] as number;
      for (let c = 0; c < w; c++) {
        const keep = 1 - weight * (act[erase + c] as number);
        next[i * w + c] =
          (prev[i * w + c] as number) * psi * keep + weight * (act[vectors + c] as number);
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
        keep *= 1 - weight * (act[erase + k * w + c] as number);
        add += weight * (act[vectors + k * w + c] as number);
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
  dWrites: Float32Array;
  /** dL/d(activated interface), added to at `eraseAt` and `vectorsAt`. */
  dAct: Float32Array;
  /** dL/dpsi, [N], added to (deallocation only; otherwise null). */
  dRetention: Float32Array | null;
}

/** Gradients of {@link eraseAndWriteForward}. */
export function eraseAndWriteBackward(inputs: EraseWrite, grads: EraseWriteGradients): void {
  const { slots: n, width: w, writeHeads: h, prev, writes, act, retention } = inputs;
  const erase = inputs.eraseAt;
  const vectors = inputs.vectorsAt;
  const { dNext, dPrev, dWrites, dAct, dRetention } = grads;
  const runtime = h === 1 && w % 4 === 0 ? simdRuntime() : undefined;
  const kernels = runtime && rowKernelExports(runtime);
  if (runtime && kernels) {
    const call = runtime.begin();
    const at = {
      prev: call.input(prev, n * w),
      writes: call.input(writes, n),
      erase: call.input(act.subarray(erase, erase + w), w),
      vector: call.input(act.subarray(vectors, vectors + w), w),
      retention: retention ? call.input(retention, n) : 0,
      dNext: call.input(dNext, n * w),
      dPrev: call.input(dPrev, n * w),
      dWrites: call.input(dWrites, n),
      dErase: call.zeros(w),
      dVector: call.zeros(w),
      dRetention: dRetention ? call.input(dRetention, n) : 0,
    };
    kernels.eraseWriteBackward(
      n,
      w,
      at.prev,
      at.writes,
      at.erase,
      at.vector,
      at.retention,
      retention ? 1 : 0,
      at.dNext,
      at.dPrev,
      at.dWrites,
      at.dErase,
      at.dVector,
      at.dRetention,
    );
    call.read(at.dPrev, n * w, dPrev);
    call.read(at.dWrites, n, dWrites);
    if (dRetention) call.read(at.dRetention, n, dRetention);
    const dErase = scratch32('memory.dErase', w);
    const dVector = scratch32('memory.dVector', w);
    call.read(at.dErase, w, dErase);
    call.read(at.dVector, w, dVector);
    for (let c = 0; c < w; c++) {
      dAct[erase + c] = (dAct[erase + c] as number) - (dErase[c] as number);
      dAct[vectors + c] = (dAct[vectors + c] as number) + (dVector[c] as number);
    }
    return;
  }
  if (h === 1) {
    // one write head: M_t = M_{t-1} psi (1 - w e) + w v
    const dErase = scratch('memory.dErase', w);
    const dVector = scratch('memory.dVector', w);
    for (let i = 0; i < n; i++) {
      const psi = retention === null ? 1 : (retention[i] as number);
      const weight = writes[i] as number;
      let dPsi = 0;
      let dWeight = 0;
      for (let c = 0; c < w; c++) {
        const d = dNext[i * w + c] as number;
        const old = prev[i * w + c] as number;
        const e = act[erase + c] as number;
        const keep = 1 - weight * e;
        dPrev[i * w + c] = (dPrev[i * w + c] as number) + d * psi * keep;
        const dOld = d * old;
        dPsi += dOld * keep;
        dWeight += d * (act[vectors + c] as number) - dOld * psi * e;
        dErase[c] = (dErase[c] as number) + dOld * psi * weight;
        dVector[c] = (dVector[c] as number) + d * weight;
      }
      dWrites[i] = (dWrites[i] as number) + dWeight;
      if (dRetention !== null) dRetention[i] = (dRetention[i] as number) + dPsi;
    }
    for (let c = 0; c < w; c++) {
      dAct[erase + c] = (dAct[erase + c] as number) - (dErase[c] as number);
      dAct[vectors + c] = (dAct[vectors + c] as number) + (dVector[c] as number);
    }
    return;
  }
  const factors = scratch('memory.factors', h);
  for (let i = 0; i < n; i++) {
    const psi = retention ? (retention[i] as number) : 1;
    let dPsi = 0;
    for (let c = 0; c < w; c++) {
      const d = dNext[i * w + c] as number;
      const old = prev[i * w + c] as number;
      let erased = 1; // prod_h (1 - w_h e_h)
      for (let k = 0; k < h; k++) {
        factors[k] = 1 - (writes[k * n + i] as number) * (act[erase + k * w + c] as number);
        erased *= factors[k] as number;
      }
      dPrev[i * w + c] = (dPrev[i * w + c] as number) + d * psi * erased;
      dPsi += d * old * erased;
      const dErased = d * old * psi;
      for (let k = 0; k < h; k++) {
        let others = 1;
        for (let l = 0; l < h; l++) if (l !== k) others *= factors[l] as number;
        const weight = writes[k * n + i] as number;
        const dFactor = dErased * others; // factor = 1 - w e
        const e = erase + k * w + c;
        const v = vectors + k * w + c;
        dWrites[k * n + i] =
          (dWrites[k * n + i] as number) - dFactor * (act[e] as number) + d * (act[v] as number);
        dAct[e] = (dAct[e] as number) - dFactor * weight;
        dAct[v] = (dAct[v] as number) + d * weight;
      }
    }
    if (dRetention) dRetention[i] = (dRetention[i] as number) + dPsi;
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
  /** M_t, [N, W]. */
  memory: Float32Array;
  /** w^r_t, [R, N]. */
  weights: Float32Array;
}

/**
 * `r[k] = M_t^T w^r[k]`.
 *
 * @param reads - r_t, [R, W], written
 */
export function readVectorsForward(read: ReadVectors, reads: Float32Array): void {
  const { rows, slots: n, width: w, readHeads: r, memory, weights } = read;
  reads.fill(0, 0, r * w);
  rows.mix(n, w, memory, weights, r, reads);
}

/** The gradient buffers of {@link readVectorsBackward}, pointed at one example. */
export interface ReadVectorsGradients {
  /** dL/dr_t, [R, W]. */
  dReads: Float32Array;
  /** dL/dM_t, [N, W], added to. */
  dMemory: Float32Array;
  /** dL/dw^r_t, [R, N], added to. */
  dWeights: Float32Array;
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
