import { CONTENT_EPSILON } from '@mann/core';

// The passes over the memory M [B, N, W] (row-major) in a fused NTM memory step: everything
// that costs N W operations per head, in plain JS (`jsPasses`; `simd-passes.ts` has the same
// passes in WebAssembly SIMD). The functions below work on one batch element's block, located
// by offsets in the step's arrays. Reductions over a row (dot products, row norms) run row by
// row; reductions over a column (read vectors, gradients of keys, erase and add vectors) run
// column by column, so that every sum lives in a register rather than in an array (about a
// third faster in V8 than accumulating into arrays).

/**
 * The sizes of a step and the offsets of batch element b's blocks in the step's arrays.
 * `jsPasses` keeps one record and moves it from element to element ({@link moveTo}), so the
 * passes allocate no record per element; the named offsets cannot be swapped silently.
 */
interface BlockAt {
  /** N, the number of memory slots. */
  readonly slots: number;
  /** W, the width of a memory row. */
  readonly width: number;
  /** R, the number of read heads. */
  readonly readHeads: number;
  /** Hw, the number of write heads. */
  readonly writeHeads: number;
  /** b N W: M[b] in M, dL/dM_t and M_t. */
  memoryAt: number;
  /** b H N: the element's [H, N] block of weightings and cosines, read heads first. */
  headsAt: number;
  /** b H W: the keys k_h. */
  keyAt: number;
  /** b H: the key norms |k_h|. */
  keyNormAt: number;
  /** b N: the row norms |M[i]|. */
  rowAt: number;
  /** b R W: the reads r_h and their gradients. */
  readsAt: number;
  /** b Hw W: the erase and add vectors e_h and a_h. */
  writeAt: number;
}

/** Points `at` at batch element b. */
function moveTo(at: BlockAt, b: number): void {
  const { slots: N, width: W, readHeads: R, writeHeads: Hw } = at;
  const H = R + Hw;
  at.memoryAt = b * N * W;
  at.headsAt = b * H * N;
  at.keyAt = b * H * W;
  at.keyNormAt = b * H;
  at.rowAt = b * N;
  at.readsAt = b * R * W;
  at.writeAt = b * Hw * W;
}

/**
 * The arrays of a step's passes: the whole step's arrays, indexed through a {@link BlockAt},
 * and (the fields marked "element b") views of one element's block that the caller sets.
 */
interface PassArrays {
  /** M_{t-1}, [B, N, W]. */
  M: Float32Array;
  /** dL/dM_t, [B, N, W], or null when M_t gets no gradient. */
  dNext: Float32Array | null;
  /** dL/dr_h, [B, R, W]. */
  dReads: Float32Array;
  /** w_h, [B, H, N]. */
  weights: Float32Array;
  /** e_h, [B, Hw, W]. */
  erase: Float64Array;
  /** a_h, [B, Hw, W]. */
  add: Float32Array;
  /** k_h, [B, H, W]. */
  key: Float64Array;
  /** |k_h|, [B, H]. */
  keyNorm: Float64Array;
  /** |M[i]|, [B, N]. */
  rowNorm: Float64Array;
  /** cos(k_h, M[i]), [B, H, N]. */
  cosine: Float64Array;
  /** r_h, [B, R, W]. */
  reads: Float32Array;
  /** M_t, [B, N, W]. */
  next: Float32Array;
  /** dL/dM_{t-1}, [B, N, W]. */
  dM: Float32Array;
  /** dL/dw, element b: read head h at `h N`, write head h at `(R + h) N`. */
  dW: Float64Array;
  /** dL/de_h, element b, [Hw, W]. */
  dErase: Float64Array;
  /** dL/da_h, element b, [Hw, W]. */
  dAdd: Float64Array;
  /** dL/d(k_h . M[i]), element b, at `h N + i`. */
  dDot: Float64Array;
  /** dL/d|M[i]| / |M[i]|, element b, [N]. */
  scale: Float64Array;
  /** dL/dk_h, element b, at `h W`. */
  dKey: Float64Array;
}

/**
 * Row norms `|M[i]| = sqrt(sum M[i]^2 + eps)` and cosines
 * `cos(k_h, M[i]) = k_h . M[i] / (|k_h| |M[i]| + eps)` for every head, two heads per pass.
 *
 * Writes `rowNorm` and `cosine` of element `at`.
 */
function contentScores(at: BlockAt, a: PassArrays): void {
  const { M, key, keyNorm, rowNorm, cosine } = a;
  const { slots: N, width: W } = at;
  const heads = at.readHeads + at.writeHeads;
  const m0 = at.memoryAt;
  const k0 = at.keyAt;
  const kn0 = at.keyNormAt;
  const rn0 = at.rowAt;
  const c0 = at.headsAt;
  for (let i = 0; i < N; i++) {
    const m = m0 + i * W;
    let sq = 0;
    for (let c = 0; c < W; c++) sq += (M[m + c] as number) * (M[m + c] as number);
    const rn = Math.sqrt(sq + CONTENT_EPSILON);
    rowNorm[rn0 + i] = rn;
    for (let h = 0; h < heads; h += 2) {
      const ka = k0 + h * W;
      if (h + 1 < heads) {
        const kb = ka + W;
        let dotA = 0;
        let dotB = 0;
        for (let c = 0; c < W; c++) {
          const v = M[m + c] as number;
          dotA += (key[ka + c] as number) * v;
          dotB += (key[kb + c] as number) * v;
        }
        cosine[c0 + h * N + i] = dotA / ((keyNorm[kn0 + h] as number) * rn + CONTENT_EPSILON);
        cosine[c0 + (h + 1) * N + i] =
          dotB / ((keyNorm[kn0 + h + 1] as number) * rn + CONTENT_EPSILON);
      } else {
        let dot = 0;
        for (let c = 0; c < W; c++) dot += (key[ka + c] as number) * (M[m + c] as number);
        cosine[c0 + h * N + i] = dot / ((keyNorm[kn0 + h] as number) * rn + CONTENT_EPSILON);
      }
    }
  }
}

/**
 * Reading, `r_h = sum_i w_h[i] M[i]` for the R read heads of element `at`, into `reads`.
 */
function readRows(at: BlockAt, a: PassArrays): void {
  const { M, weights, reads } = a;
  const { slots: N, width: W, readHeads: heads } = at;
  const m0 = at.memoryAt;
  const w0 = at.headsAt;
  const r0 = at.readsAt;
  for (let h = 0; h < heads; h++) {
    const w = w0 + h * N;
    for (let c = 0; c < W; c++) {
      let sum = 0;
      for (let i = 0, m = m0 + c; i < N; i++, m += W) {
        sum += (weights[w + i] as number) * (M[m] as number);
      }
      reads[r0 + h * W + c] = sum;
    }
  }
}

/**
 * Writing with the Hw write heads of element `at`, all erases then all adds, into `next`:
 * `next[i] = M[i] prod_h (1 - w_h[i] e_h) + sum_h w_h[i] a_h` (with none, a copy).
 *
 * @param row - scratch of W
 */
function writeRows(at: BlockAt, a: PassArrays, row: Float64Array): void {
  const { M, weights, erase, add, next } = a;
  const { slots: N, width: W, writeHeads: heads } = at;
  const m0 = at.memoryAt;
  const w0 = at.headsAt + at.readHeads * N;
  const e0 = at.writeAt;
  const a0 = at.writeAt;
  const aStride = W;
  if (heads === 1) {
    for (let i = 0; i < N; i++) {
      const m = m0 + i * W;
      const wi = weights[w0 + i] as number;
      for (let c = 0; c < W; c++) {
        const v = M[m + c] as number;
        next[m + c] = v * (1 - wi * (erase[e0 + c] as number)) + wi * (add[a0 + c] as number);
      }
    }
    return;
  }
  for (let i = 0; i < N; i++) {
    const m = m0 + i * W;
    for (let c = 0; c < W; c++) row[c] = M[m + c] as number;
    for (let h = 0; h < heads; h++) {
      const wi = weights[w0 + h * N + i] as number;
      for (let c = 0; c < W; c++) {
        row[c] = (row[c] as number) * (1 - wi * (erase[e0 + h * W + c] as number));
      }
    }
    for (let h = 0; h < heads; h++) {
      const wi = weights[w0 + h * N + i] as number;
      const a = a0 + h * aStride;
      for (let c = 0; c < W; c++) row[c] = (row[c] as number) + wi * (add[a + c] as number);
    }
    for (let c = 0; c < W; c++) next[m + c] = row[c] as number;
  }
}

/**
 * Backward of {@link readRows} and {@link writeRows} to the weightings: adds
 * `sum_c dr_h[c] M[i, c]` to dW of read head h and `sum_c dM_t[i, c] (a_h[c] - M[i, c] P_h[c] e_h[c])`
 * (P_h the other write heads' erase factors) to dW of write head h. With several write heads
 * it also accumulates dL/de_h and dL/da_h (with one, {@link eraseAddGrads} does).
 *
 * Adds to `dW`, `dErase` and `dAdd` (views of element `at`).
 *
 * @param retained - scratch of Hw W
 */
function weightGrads(at: BlockAt, a: PassArrays, retained: Float64Array): void {
  const { M, dReads, dNext, weights, erase, add, dW, dErase, dAdd } = a;
  const { slots: N, width: W, readHeads, writeHeads } = at;
  const m0 = at.memoryAt;
  const dr0 = at.readsAt;
  const ww0 = at.headsAt + readHeads * N;
  const e0 = at.writeAt;
  const a0 = at.writeAt;
  const aStride = W;
  const R = readHeads;
  if (R === 1 && writeHeads === 1 && dNext !== null) {
    // the paper's configuration in one pass: one read head, one write head
    for (let i = 0; i < N; i++) {
      const m = m0 + i * W;
      let sumRead = 0;
      let sumWrite = 0;
      for (let c = 0; c < W; c++) {
        const v = M[m + c] as number;
        sumRead += (dReads[dr0 + c] as number) * v;
        sumWrite +=
          (dNext[m + c] as number) * ((add[a0 + c] as number) - v * (erase[e0 + c] as number));
      }
      dW[i] = (dW[i] as number) + sumRead;
      dW[N + i] = (dW[N + i] as number) + sumWrite;
    }
    return;
  }
  for (let i = 0; i < N; i++) {
    const m = m0 + i * W;
    for (let h = 0; h < R; h++) {
      const dr = dr0 + h * W;
      let sum = 0;
      for (let c = 0; c < W; c++) sum += (dReads[dr + c] as number) * (M[m + c] as number);
      dW[h * N + i] = (dW[h * N + i] as number) + sum;
    }
    if (dNext === null || writeHeads === 0) continue;
    if (writeHeads === 1) {
      let sum = 0;
      for (let c = 0; c < W; c++) {
        const v = M[m + c] as number;
        sum += (dNext[m + c] as number) * ((add[a0 + c] as number) - v * (erase[e0 + c] as number));
      }
      dW[R * N + i] = (dW[R * N + i] as number) + sum;
      continue;
    }
    for (let h = 0; h < writeHeads; h++) {
      const wi = weights[ww0 + h * N + i] as number;
      for (let c = 0; c < W; c++) retained[h * W + c] = 1 - wi * (erase[e0 + h * W + c] as number);
    }
    for (let h = 0; h < writeHeads; h++) {
      const wi = weights[ww0 + h * N + i] as number;
      const a = a0 + h * aStride;
      let sum = 0;
      for (let c = 0; c < W; c++) {
        let others = M[m + c] as number; // M[i] times the other heads' factors
        for (let o = 0; o < writeHeads; o++) if (o !== h) others *= retained[o * W + c] as number;
        const dn = dNext[m + c] as number;
        const t = dn * others;
        sum += dn * (add[a + c] as number) - t * (erase[e0 + h * W + c] as number);
        dErase[h * W + c] = (dErase[h * W + c] as number) - t * wi;
        dAdd[h * W + c] = (dAdd[h * W + c] as number) + dn * wi;
      }
      dW[(R + h) * N + i] = (dW[(R + h) * N + i] as number) + sum;
    }
  }
}

/**
 * dL/de and dL/da of a single write head, `M_t = M * (1 - w e^T) + w a^T`:
 * `de[c] = -sum_i dM_t[i, c] M[i, c] w[i]`, `da[c] = sum_i dM_t[i, c] w[i]`, written to
 * `dErase` and `dAdd` (views of element `at`).
 *
 * @param dNext - dL/dM_t, [B, N, W] (`a.dNext` once known not to be null)
 */
function eraseAddGrads(at: BlockAt, a: PassArrays, dNext: Float32Array): void {
  const { M, weights, dErase, dAdd } = a;
  const { slots: N, width: W } = at;
  const m0 = at.memoryAt;
  const w0 = at.headsAt + at.readHeads * N;
  for (let c = 0; c < W; c++) {
    let de = 0;
    let da = 0;
    for (let i = 0, m = m0 + c; i < N; i++, m += W) {
      const g = (dNext[m] as number) * (weights[w0 + i] as number);
      de -= g * (M[m] as number);
      da += g;
    }
    dErase[c] = de;
    dAdd[c] = da;
  }
}

/**
 * dL/dM_{t-1}, written to `dM`: through the write (`dM_t prod_h f_h`), the reads
 * (`sum_h w_h[i] dr_h`), the row norms (`scale[i] M[i]`, scale = dL/d|M[i]| / |M[i]|) and the
 * key dot products (`sum_h dDot_h[i] k_h`), for element `at` (`dDot` and `scale` its views).
 *
 * @param row - scratch of W
 */
function memoryGrads(at: BlockAt, a: PassArrays, row: Float64Array): void {
  const { M, dNext, dReads, weights, erase, key, dDot, scale, dM } = a;
  const { slots: N, width: W, readHeads, writeHeads } = at;
  const m0 = at.memoryAt;
  const dr0 = at.readsAt;
  const w0 = at.headsAt;
  const e0 = at.writeAt;
  const k0 = at.keyAt;
  const R = readHeads;
  const H = R + writeHeads;
  if (R === 1 && writeHeads === 1 && dNext !== null) {
    // the paper's configuration in one pass: one read head, one write head
    const ww0 = w0 + N;
    const kb = k0 + W;
    for (let i = 0; i < N; i++) {
      const m = m0 + i * W;
      const s = scale[i] as number;
      const wr = weights[w0 + i] as number;
      const ww = weights[ww0 + i] as number;
      const da = dDot[i] as number;
      const db = dDot[N + i] as number;
      for (let c = 0; c < W; c++) {
        dM[m + c] =
          s * (M[m + c] as number) +
          (dNext[m + c] as number) * (1 - ww * (erase[e0 + c] as number)) +
          wr * (dReads[dr0 + c] as number) +
          da * (key[k0 + c] as number) +
          db * (key[kb + c] as number);
      }
    }
    return;
  }
  for (let i = 0; i < N; i++) {
    const m = m0 + i * W;
    for (let c = 0; c < W; c++) row[c] = dNext === null ? 0 : (dNext[m + c] as number);
    for (let h = 0; h < writeHeads; h++) {
      const wi = weights[w0 + (R + h) * N + i] as number;
      for (let c = 0; c < W; c++) {
        row[c] = (row[c] as number) * (1 - wi * (erase[e0 + h * W + c] as number));
      }
    }
    const s = scale[i] as number;
    for (let c = 0; c < W; c++) row[c] = (row[c] as number) + s * (M[m + c] as number);
    for (let h = 0; h < R; h++) {
      const wi = weights[w0 + h * N + i] as number;
      const dr = dr0 + h * W;
      for (let c = 0; c < W; c++) row[c] = (row[c] as number) + wi * (dReads[dr + c] as number);
    }
    for (let h = 0; h < H; h++) {
      const d = dDot[h * N + i] as number;
      const k = k0 + h * W;
      for (let c = 0; c < W; c++) row[c] = (row[c] as number) + d * (key[k + c] as number);
    }
    for (let c = 0; c < W; c++) dM[m + c] = row[c] as number;
  }
}

/**
 * {@link eraseAddGrads} and {@link keyGrads} in one pass over the columns, for two heads of
 * which the second is the only write head (the paper's configuration).
 *
 * @param dNext - dL/dM_t, [B, N, W] (`a.dNext` once known not to be null)
 */
function columnGradsTwoHeads(at: BlockAt, a: PassArrays, dNext: Float32Array): void {
  const { M, weights, dDot, dErase, dAdd, dKey } = a;
  const { slots: N, width: W } = at;
  const m0 = at.memoryAt;
  const ww0 = at.headsAt + N;
  for (let c = 0; c < W; c++) {
    let de = 0;
    let da = 0;
    let dkA = 0;
    let dkB = 0;
    for (let i = 0, m = m0 + c; i < N; i++, m += W) {
      const v = M[m] as number;
      const g = (dNext[m] as number) * (weights[ww0 + i] as number);
      de -= g * v;
      da += g;
      dkA += (dDot[i] as number) * v;
      dkB += (dDot[N + i] as number) * v;
    }
    dErase[c] = de;
    dAdd[c] = da;
    dKey[c] = (dKey[c] as number) + dkA;
    dKey[W + c] = (dKey[W + c] as number) + dkB;
  }
}

/**
 * Adds the key dot products' share of dL/dk_h, `sum_i dDot_h[i] M[i]`, to dKey[h W ..], for
 * all H heads of element `at` (`dDot` and `dKey` its views).
 */
function keyGrads(at: BlockAt, a: PassArrays): void {
  const { M, dDot, dKey } = a;
  const { slots: N, width: W } = at;
  const heads = at.readHeads + at.writeHeads;
  const m0 = at.memoryAt;
  for (let h = 0; h < heads; h += 2) {
    const da = h * N;
    const pair = h + 1 < heads;
    for (let c = 0; c < W; c++) {
      let sumA = 0;
      let sumB = 0;
      for (let i = 0, m = m0 + c; i < N; i++, m += W) {
        const v = M[m] as number;
        sumA += (dDot[da + i] as number) * v;
        if (pair) sumB += (dDot[da + N + i] as number) * v;
      }
      dKey[h * W + c] = (dKey[h * W + c] as number) + sumA;
      if (pair) dKey[(h + 1) * W + c] = (dKey[(h + 1) * W + c] as number) + sumB;
    }
  }
}

/**
 * The passes over the memory of a whole step (all B batch elements), as the step functions
 * use them. A step first binds the arrays that stay fixed through its passes
 * ({@link MemoryPasses.beginForward}, {@link MemoryPasses.beginBackward}; the SIMD passes copy
 * them into their module's memory once), then runs the passes in the order listed. Row-major
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
  /** dL/dM_{t-1} into dM, see {@link memoryGrads}; dDot [B, H, N], scale [B, N]. */
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

/** The {@link MemoryPasses} in plain JS, for any sizes. */
export function jsPasses(N: number, W: number, R: number, Hw: number): MemoryPasses {
  const H = R + Hw;
  const row = new Float64Array(W);
  const retained = new Float64Array(Hw * W);
  const view = (x: Float64Array, b: number, size: number): Float64Array =>
    x.subarray(b * size, (b + 1) * size);
  const at: BlockAt = {
    slots: N,
    width: W,
    readHeads: R,
    writeHeads: Hw,
    memoryAt: 0,
    headsAt: 0,
    keyAt: 0,
    keyNormAt: 0,
    rowAt: 0,
    readsAt: 0,
    writeAt: 0,
  };
  // the arrays bound by beginForward / beginBackward, then those of each pass
  let B = 0;
  const none32 = new Float32Array(0);
  const none64 = new Float64Array(0);
  const a: PassArrays = {
    M: none32,
    dNext: null,
    dReads: none32,
    weights: none32,
    erase: none64,
    add: none32,
    key: none64,
    keyNorm: none64,
    rowNorm: none64,
    cosine: none64,
    reads: none32,
    next: none32,
    dM: none32,
    dW: none64,
    dErase: none64,
    dAdd: none64,
    dDot: none64,
    scale: none64,
    dKey: none64,
  };
  return {
    kind: 'js',
    beginForward(batch, memory) {
      B = batch;
      a.M = memory;
    },
    contentScores(key, keyNorm, rowNorm, cosine) {
      [a.key, a.keyNorm, a.rowNorm, a.cosine] = [key, keyNorm, rowNorm, cosine];
      for (let b = 0; b < B; b++) {
        moveTo(at, b);
        contentScores(at, a);
      }
    },
    readWrite(w, e, add, reads, next) {
      [a.weights, a.erase, a.add, a.reads, a.next] = [w, e, add, reads, next];
      for (let b = 0; b < B; b++) {
        moveTo(at, b);
        readRows(at, a);
        writeRows(at, a, row);
      }
    },
    beginBackward(batch, memory, next, readGrads, w, e, add) {
      B = batch;
      [a.M, a.dNext, a.dReads, a.weights, a.erase, a.add] = [memory, next, readGrads, w, e, add];
    },
    weightGrads(dW, dErase, dAdd) {
      for (let b = 0; b < B; b++) {
        moveTo(at, b);
        a.dW = view(dW, b, H * N);
        a.dErase = view(dErase, b, Hw * W);
        a.dAdd = view(dAdd, b, Hw * W);
        weightGrads(at, a, retained);
      }
    },
    memoryGrads(key, dDot, scale, dM) {
      a.key = key;
      a.dM = dM;
      for (let b = 0; b < B; b++) {
        moveTo(at, b);
        a.dDot = view(dDot, b, H * N);
        a.scale = view(scale, b, N);
        memoryGrads(at, a, row);
      }
    },
    columnGrads(dDot, dKey, dErase, dAdd) {
      const dNext = a.dNext;
      for (let b = 0; b < B; b++) {
        moveTo(at, b);
        a.dDot = view(dDot, b, H * N);
        a.dKey = view(dKey, b, H * W);
        if (R === 1 && Hw === 1 && dNext !== null) {
          a.dErase = view(dErase, b, W);
          a.dAdd = view(dAdd, b, W);
          columnGradsTwoHeads(at, a, dNext);
          continue;
        }
        if (Hw === 1 && dNext !== null) {
          a.dErase = view(dErase, b, W);
          a.dAdd = view(dAdd, b, W);
          eraseAddGrads(at, a, dNext);
        }
        keyGrads(at, a);
      }
    },
  };
}
