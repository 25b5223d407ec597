import { CONTENT_EPSILON } from '@mann/core';

// The passes over the memory M [B, N, W] (row-major) in a fused NTM memory step: everything
// that costs N W operations per head, in plain JS (`jsPasses`; `simd-passes.ts` has the same
// passes in WebAssembly SIMD). The functions below work on one batch element's block, located
// by offsets in the step's arrays. Reductions over a row (dot products, row norms) run row by
// row; reductions over a column (read vectors, gradients of keys, erase and add vectors) run
// column by column, so that every sum lives in a register rather than in an array (about a
// third faster in V8 than accumulating into arrays).

/**
 * Row norms `|M[i]| = sqrt(sum M[i]^2 + eps)` and cosines
 * `cos(k_h, M[i]) = k_h . M[i] / (|k_h| |M[i]| + eps)` for every head, two heads per pass.
 *
 * @param key - k_h at `k0 + h W`; keyNorm[kn0 + h] = |k_h|
 * @param rowNorm - receives |M[i]| at `rn0 + i`
 * @param cosine - receives cos(k_h, M[i]) at `c0 + h N + i`
 */
function contentScores(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  heads: number,
  key: Float64Array,
  k0: number,
  keyNorm: Float64Array,
  kn0: number,
  rowNorm: Float64Array,
  rn0: number,
  cosine: Float64Array,
  c0: number,
): void {
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
 * Reading, `r_h = sum_i w_h[i] M[i]` for `heads` read heads.
 *
 * @param weights - w_h at `w0 + h N`
 * @param reads - receives r_h at `r0 + h W`
 */
function readRows(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  heads: number,
  weights: Float32Array,
  w0: number,
  reads: Float32Array,
  r0: number,
): void {
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
 * Writing with `heads` write heads, all erases then all adds:
 * `next[i] = M[i] prod_h (1 - w_h[i] e_h) + sum_h w_h[i] a_h` (with none, a copy).
 *
 * @param weights - w_h at `w0 + h N`
 * @param erase - e_h at `e0 + h W`
 * @param add - a_h at `a0 + h aStride`
 * @param row - scratch of W
 */
function writeRows(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  heads: number,
  weights: Float32Array,
  w0: number,
  erase: Float64Array,
  e0: number,
  add: Float32Array,
  a0: number,
  aStride: number,
  next: Float32Array,
  row: Float64Array,
): void {
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
 * @param dReads - dL/dr_h at `dr0 + h W`
 * @param dNext - dL/dM_t, null when M_t gets no gradient
 * @param dW - dL/dw: read head h at `h N`, write head h at `(R + h) N`
 * @param retained - scratch of Hw W
 */
function weightGrads(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  readHeads: number,
  writeHeads: number,
  dReads: Float32Array,
  dr0: number,
  dNext: Float32Array | null,
  weights: Float32Array,
  ww0: number,
  erase: Float64Array,
  e0: number,
  add: Float32Array,
  a0: number,
  aStride: number,
  dW: Float64Array,
  dErase: Float64Array,
  dAdd: Float64Array,
  retained: Float64Array,
): void {
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
 * `de[c] = -sum_i dM_t[i, c] M[i, c] w[i]`, `da[c] = sum_i dM_t[i, c] w[i]` (written).
 */
function eraseAddGrads(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  dNext: Float32Array,
  weights: Float32Array,
  w0: number,
  dErase: Float64Array,
  dAdd: Float64Array,
): void {
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
 * key dot products (`sum_h dDot_h[i] k_h`).
 *
 * @param dDot - dL/d(k_h . M[i]) at `h N + i`, all H heads
 * @param row - scratch of W
 */
function memoryGrads(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  readHeads: number,
  writeHeads: number,
  dNext: Float32Array | null,
  dReads: Float32Array,
  dr0: number,
  weights: Float32Array,
  w0: number,
  erase: Float64Array,
  e0: number,
  key: Float64Array,
  k0: number,
  dDot: Float64Array,
  scale: Float64Array,
  dM: Float32Array,
  row: Float64Array,
): void {
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
 */
function columnGradsTwoHeads(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  dNext: Float32Array,
  weights: Float32Array,
  ww0: number,
  dDot: Float64Array,
  dErase: Float64Array,
  dAdd: Float64Array,
  dKey: Float64Array,
): void {
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

/** Adds the key dot products' share of dL/dk_h, `sum_i dDot_h[i] M[i]`, to dKey[h W ..]. */
function keyGrads(
  M: Float32Array,
  m0: number,
  N: number,
  W: number,
  heads: number,
  dDot: Float64Array,
  dKey: Float64Array,
): void {
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
  // the arrays bound by beginForward / beginBackward
  let B = 0;
  let M: Float32Array = new Float32Array(0);
  let dNext: Float32Array | null = null;
  let dReads: Float32Array = M;
  let weights: Float32Array = M;
  let erase: Float64Array = new Float64Array(0);
  let add: Float32Array = M;
  return {
    kind: 'js',
    beginForward(batch, memory) {
      [B, M] = [batch, memory];
    },
    contentScores(key, keyNorm, rowNorm, cosine) {
      for (let b = 0; b < B; b++) {
        contentScores(
          M,
          b * N * W,
          N,
          W,
          H,
          key,
          b * H * W,
          keyNorm,
          b * H,
          rowNorm,
          b * N,
          cosine,
          b * H * N,
        );
      }
    },
    readWrite(w, e, a, reads, next) {
      for (let b = 0; b < B; b++) {
        readRows(M, b * N * W, N, W, R, w, b * H * N, reads, b * R * W);
        writeRows(
          M,
          b * N * W,
          N,
          W,
          Hw,
          w,
          b * H * N + R * N,
          e,
          b * Hw * W,
          a,
          b * Hw * W,
          W,
          next,
          row,
        );
      }
    },
    beginBackward(batch, memory, next, readGrads, w, e, a) {
      [B, M, dNext, dReads, weights, erase, add] = [batch, memory, next, readGrads, w, e, a];
    },
    weightGrads(dW, dErase, dAdd) {
      for (let b = 0; b < B; b++) {
        weightGrads(
          M,
          b * N * W,
          N,
          W,
          R,
          Hw,
          dReads,
          b * R * W,
          dNext,
          weights,
          b * H * N + R * N,
          erase,
          b * Hw * W,
          add,
          b * Hw * W,
          W,
          view(dW, b, H * N),
          view(dErase, b, Hw * W),
          view(dAdd, b, Hw * W),
          retained,
        );
      }
    },
    memoryGrads(key, dDot, scale, dM) {
      for (let b = 0; b < B; b++) {
        memoryGrads(
          M,
          b * N * W,
          N,
          W,
          R,
          Hw,
          dNext,
          dReads,
          b * R * W,
          weights,
          b * H * N,
          erase,
          b * Hw * W,
          key,
          b * H * W,
          view(dDot, b, H * N),
          view(scale, b, N),
          dM,
          row,
        );
      }
    },
    columnGrads(dDot, dKey, dErase, dAdd) {
      for (let b = 0; b < B; b++) {
        if (R === 1 && Hw === 1 && dNext !== null) {
          columnGradsTwoHeads(
            M,
            b * N * W,
            N,
            W,
            dNext,
            weights,
            b * H * N + N,
            view(dDot, b, H * N),
            view(dErase, b, W),
            view(dAdd, b, W),
            view(dKey, b, H * W),
          );
          continue;
        }
        if (Hw === 1 && dNext !== null) {
          eraseAddGrads(
            M,
            b * N * W,
            N,
            W,
            dNext,
            weights,
            b * H * N + R * N,
            view(dErase, b, W),
            view(dAdd, b, W),
          );
        }
        keyGrads(M, b * N * W, N, W, H, view(dDot, b, H * N), view(dKey, b, H * W));
      }
    },
  };
}
