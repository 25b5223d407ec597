import { CONTENT_EPSILON } from '@mann/core';
import {
  jsRowKernels,
  rowKernelsOn,
  SimdRuntime,
  eraseAndWriteBackward,
  eraseAndWriteForward,
  readVectorsForward,
  scratch32,
  type EraseWrite,
  type EraseWriteGradients,
  type ReadVectors,
} from '@mann/core/fused';

// The passes over the memory M [B, N, W] (row-major) in a fused NTM memory step: everything
// that costs N W operations per head, built from the kernel layer's row kernels and its
// erase-and-write (`@mann/core/fused`), in WebAssembly SIMD or plain JS. With the JS kernels
// they are the reference the SIMD ones are tested against.

/**
 * The passes over the memory of a whole step (all B batch elements), as the step functions
 * use them. A step first binds the arrays that stay fixed through its passes
 * ({@link MemoryPasses.beginForward}, {@link MemoryPasses.beginBackward}; the [B, N, W] ones
 * are copied once per step, into views of the SIMD runtime's memory with SIMD), then runs the passes in the order listed. Row-major
 * arrays, batch first; H = R + Hw heads, read heads first; e_h and a_h of the write heads are
 * [B, Hw, W].
 */
export interface MemoryPasses {
  /** `'simd'` (WebAssembly) or `'js'`. */
  readonly kind: 'simd' | 'js';
  /** Starts the forward passes of a step of `batch` over M_{t-1} [B, N, W]. */
  beginForward(batch: number, M: Float32Array): void;
  /** |M[i]| into rowNorm [B, N]; cos(k_h, M[i]) into cosine [B, H, N] (given |k_h|, [B, H]). */
  contentScores(
    key: Float64Array,
    keyNorm: Float64Array,
    rowNorm: Float64Array,
    cosine: Float64Array,
  ): void;
  /** The reads r_h [B, R, W] from M_{t-1}, and M_t [B, N, W]: erases, then adds. */
  readWrite(
    weights: Float32Array,
    erase: Float64Array,
    add: Float32Array,
    reads: Float32Array,
    next: Float32Array,
  ): void;
  /**
   * Starts the backward passes of a step of `batch`: M_{t-1} [B, N, W], dL/dM_t (null when M_t
   * gets no gradient), dL/dr_t [B, R, W], w_t [B, H, N], e and a.
   */
  beginBackward(
    batch: number,
    M: Float32Array,
    dNext: Float32Array | null,
    dReads: Float32Array,
    weights: Float32Array,
    erase: Float64Array,
    add: Float32Array,
  ): void;
  /**
   * Adds the reads' and the write's share of dL/dw to dW [B, H, N]; with several write heads
   * also accumulates dL/de, dL/da [B, Hw, W] (with one, {@link MemoryPasses.columnGrads} does).
   */
  weightGrads(dW: Float64Array, dErase: Float64Array, dAdd: Float64Array): void;
  /** dL/dM_{t-1} into dM, through the write, the reads, the row norms and the key dot products; dDot [B, H, N], scale [B, N]. */
  memoryGrads(key: Float64Array, dDot: Float64Array, scale: Float64Array, dM: Float32Array): void;
  /**
   * Adds sum_i dDot_h[i] M[i] to dKey [B, H, W]; with one write head also writes dL/de and
   * dL/da [B, 1, W].
   */
  columnGrads(
    dDot: Float64Array,
    dKey: Float64Array,
    dErase: Float64Array,
    dAdd: Float64Array,
  ): void;
}

/**
 * The {@link MemoryPasses} for N slots of width W, R read heads and Hw write heads, built from
 * the kernel layer's row kernels and its erase-and-write, one batch element at a time: content
 * scores from `squares` and `dots`, the reads and the write from `@mann/core/fused`, the
 * backward passes from their gradients. SIMD row kernels when `simd` (the default), WebAssembly
 * SIMD is available and W is a multiple of 4 (for the erase-and-write also one write head),
 * else the JS ones. The SIMD passes keep the [B, N, W] arrays in views of their runtime's memory,
 * copied in once per step and out once, which the kernels use in place.
 *
 * The write's gradients are all computed in {@link MemoryPasses.weightGrads} (its share of
 * dL/dM_{t-1} is kept until {@link MemoryPasses.memoryGrads} adds the rest), so `columnGrads`
 * leaves dL/de and dL/da as they are.
 */
export function rowPasses(N: number, W: number, R: number, Hw: number, simd = true): MemoryPasses {
  const H = R + Hw;
  const runtime = simd && W % 4 === 0 ? SimdRuntime.create() : undefined;
  const rows = (runtime && rowKernelsOn(runtime)) ?? jsRowKernels;
  const none: Float32Array = new Float32Array(0);
  const reader: ReadVectors = {
    rows,
    slots: N,
    width: W,
    readHeads: R,
    memory: none,
    weights: none,
  };
  const writer: EraseWrite = {
    rows,
    slots: N,
    width: W,
    writeHeads: Hw,
    prev: none,
    writes: none,
    erase: none,
    eraseAt: 0,
    vectors: none,
    vectorsAt: 0,
    retention: null,
  };
  const writeGrads: EraseWriteGradients = {
    dNext: none,
    dPrev: none,
    dWrites: none,
    dErase: none,
    dVectors: none,
    dRetention: null,
  };
  /** Element b's slice of `x`, `size` values each. */
  const at = <T extends Float32Array | Float64Array>(x: T, b: number, size: number): T =>
    x.subarray(b * size, (b + 1) * size) as T;
  /**
   * M_{t-1}, M_t, dL/dM_t and dL/dM_{t-1}, [B, N, W] (views of the runtime's memory with SIMD),
   * and each one's [N, W] blocks by batch element.
   */
  let staged = { batch: -1, M: none, next: none, dNext: none, dM: none };
  let blocks = { M: [none], next: [none], dNext: [none], dM: [none] };
  const stage = (batch: number): typeof staged => {
    if (staged.batch === batch) return staged;
    const size = batch * N * W;
    let make = (): Float32Array => new Float32Array(size);
    if (runtime) {
      runtime.reset();
      // the four arrays, and room for the arrays a kernel call copies in
      runtime.ensure(4 * size + batch * N + 8 * (H * N + H * W + N + W) + 64);
      make = () => runtime.view(size, false);
    }
    staged = { batch, M: make(), next: make(), dNext: make(), dM: make() };
    const split = (x: Float32Array): Float32Array[] =>
      Array.from({ length: batch }, (_, b) => at(x, b, N * W));
    blocks = {
      M: split(staged.M),
      next: split(staged.next),
      dNext: split(staged.dNext),
      dM: split(staged.dM),
    };
    return staged;
  };
  let B = 0;
  let dNext = false;
  let dReads: Float32Array = none;
  let weights: Float32Array = none;
  let erase: Float64Array = new Float64Array(0);
  let add: Float32Array = none;
  /** Points the reader and the writer at element b. */
  const moveTo = (b: number): void => {
    reader.memory = writer.prev = blocks.M[b] as Float32Array;
    reader.weights = weights.subarray(b * H * N, (b * H + R) * N);
    writer.writes = weights.subarray((b * H + R) * N, (b + 1) * H * N);
    writer.erase = erase;
    writer.vectors = add;
    writer.eraseAt = writer.vectorsAt = b * Hw * W;
  };
  return {
    kind: rows.kind,
    beginForward(batch, memory) {
      B = batch;
      stage(B).M.set(memory.subarray(0, B * N * W));
    },
    contentScores(key, keyNorm, rowNorm, cosine) {
      const squares = scratch32('ntm.squares', B * N);
      const dots = scratch32('ntm.dots', H * N);
      rows.squares(B * N, W, staged.M, squares); // every row of the batch at once
      for (let j = 0; j < B * N; j++)
        rowNorm[j] = Math.sqrt((squares[j] as number) + CONTENT_EPSILON);
      for (let b = 0; b < B; b++) {
        rows.dots(N, W, blocks.M[b] as Float32Array, at(key, b, H * W), H, dots);
        for (let h = 0; h < H; h++) {
          const kn = keyNorm[b * H + h] as number;
          for (let i = 0; i < N; i++) {
            const rn = rowNorm[b * N + i] as number;
            cosine[(b * H + h) * N + i] = (dots[h * N + i] as number) / (kn * rn + CONTENT_EPSILON);
          }
        }
      }
    },
    readWrite(w, e, a, reads, next) {
      [weights, erase, add] = [w, e, a];
      for (let b = 0; b < B; b++) {
        moveTo(b);
        readVectorsForward(reader, at(reads, b, R * W));
        if (Hw > 0) eraseAndWriteForward(writer, blocks.next[b] as Float32Array);
      }
      next.set((Hw > 0 ? staged.next : staged.M).subarray(0, B * N * W));
    },
    beginBackward(batch, memory, next, readGrads, w, e, a) {
      B = batch;
      [dReads, weights, erase, add] = [readGrads, w, e, a];
      const { M, dNext: dn } = stage(B);
      M.set(memory.subarray(0, B * N * W));
      dNext = next !== null;
      if (next) dn.set(next.subarray(0, B * N * W));
    },
    weightGrads(dW, dErase, dAdd) {
      const { dM } = staged;
      // dL/dM_{t-1} through the write; without a write head M_t = M_{t-1}
      if (Hw === 0 && dNext) dM.set(staged.dNext);
      else dM.fill(0);
      const products = scratch32('ntm.readProducts', R * N);
      writeGrads.dErase = dErase;
      writeGrads.dVectors = dAdd;
      for (let b = 0; b < B; b++) {
        // the reads: dL/dw_h[i] += dr_h . M[i] (their share of dL/dM follows in memoryGrads)
        const dWb = at(dW, b, H * N);
        rows.dots(N, W, blocks.M[b] as Float32Array, at(dReads, b, R * W), R, products);
        for (let k = 0; k < R * N; k++) dWb[k] = (dWb[k] as number) + (products[k] as number);
        if (!dNext || Hw === 0) continue;
        moveTo(b);
        writeGrads.dNext = blocks.dNext[b] as Float32Array;
        writeGrads.dPrev = blocks.dM[b] as Float32Array;
        writeGrads.dWrites = dWb.subarray(R * N);
        eraseAndWriteBackward(writer, writeGrads);
      }
    },
    memoryGrads(key, dDot, scale, dM) {
      // dM[i] += sum_h dDot_h[i] k_h + sum_r w_r[i] dr_r + scale[i] M[i], in one pass
      const coeffs = scratch32('ntm.coeffs', (H + R) * N);
      const vecs = scratch32('ntm.vecs', (H + R) * W);
      for (let b = 0; b < B; b++) {
        coeffs.set(at(dDot, b, H * N));
        coeffs.set(weights.subarray(b * H * N, (b * H + R) * N), H * N);
        vecs.set(at(key, b, H * W));
        vecs.set(at(dReads, b, R * W), H * W);
        // prettier-ignore
        rows.update(N, W, blocks.dM[b] as Float32Array, blocks.M[b] as Float32Array, coeffs, vecs, H + R, at(scale, b, N));
      }
      dM.set(staged.dM.subarray(0, B * N * W));
    },
    columnGrads(dDot, dKey) {
      for (let b = 0; b < B; b++)
        rows.mix(N, W, blocks.M[b] as Float32Array, at(dDot, b, H * N), H, at(dKey, b, H * W));
    },
  };
}
