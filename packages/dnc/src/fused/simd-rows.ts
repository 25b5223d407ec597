import {
  at,
  f32,
  f32x4,
  forLoop,
  FunctionBuilder,
  get,
  I32,
  i32,
  set,
  V128,
  when,
  type Code,
  type Local,
} from './wasm.js';

// WebAssembly SIMD builders of the row kernels of `row-kernels.ts`: products of a memory
// matrix M [n, w] (row-major, w a multiple of 4) with a few vectors of width w or coefficient
// rows of length n, four columns at a time. Arrays are byte addresses in the module's memory.

const row = (base: Local, index: Local, size: Local): Code =>
  at(get(base), i32.mul(get(index), get(size)));
const four = (base: Local, c: Local): Code => f32x4.load(at(get(base), get(c)));
const zero4 = (): Code => f32x4.splat(f32.const(0));

function params(fn: FunctionBuilder, count: number): Local[] {
  return Array.from({ length: count }, () => fn.param());
}

function locals(fn: FunctionBuilder, type: typeof I32 | typeof V128, count: number): Local[] {
  return Array.from({ length: count }, () => fn.local(type));
}

/** rowDots(n, w, m, vecs, v, out): out[j, i] = vecs[j] . M[i], for j < v, i < n. */
export function rowDotsKernel(): { builder: FunctionBuilder; body: Code } {
  const fn = new FunctionBuilder('rowDots');
  const [n, w, m, vecs, v, out] = params(fn, 6) as [Local, Local, Local, Local, Local, Local];
  const [i, j, c, rowM, vec] = locals(fn, I32, 5) as [Local, Local, Local, Local, Local];
  const [sum] = locals(fn, V128, 1) as [Local];
  const body = forLoop(
    i,
    i32.const(0),
    get(n),
    1,
    set(rowM, row(m, i, w)),
    forLoop(
      j,
      i32.const(0),
      get(v),
      1,
      set(vec, row(vecs, j, w)),
      set(sum, zero4()),
      forLoop(
        c,
        i32.const(0),
        get(w),
        4,
        set(sum, f32x4.add(get(sum), f32x4.mul(four(vec, c), four(rowM, c)))),
      ),
      f32.store(at(row(out, j, n), get(i)), f32x4.sum(sum)),
    ),
  );
  return { builder: fn, body };
}

/** rowSquares(n, w, m, out): out[i] = M[i] . M[i]. */
export function rowSquaresKernel(): { builder: FunctionBuilder; body: Code } {
  const fn = new FunctionBuilder('rowSquares');
  const [n, w, m, out] = params(fn, 4) as [Local, Local, Local, Local];
  const [i, c, rowM] = locals(fn, I32, 3) as [Local, Local, Local];
  const [sum, x] = locals(fn, V128, 2) as [Local, Local];
  const body = forLoop(
    i,
    i32.const(0),
    get(n),
    1,
    set(rowM, row(m, i, w)),
    set(sum, zero4()),
    forLoop(
      c,
      i32.const(0),
      get(w),
      4,
      set(x, four(rowM, c)),
      set(sum, f32x4.add(get(sum), f32x4.mul(get(x), get(x)))),
    ),
    f32.store(at(get(out), get(i)), f32x4.sum(sum)),
  );
  return { builder: fn, body };
}

/** rowMix(n, w, m, coeffs, v, out): out[j] += sum_i coeffs[j, i] M[i], for j < v. */
export function rowMixKernel(): { builder: FunctionBuilder; body: Code } {
  const fn = new FunctionBuilder('rowMix');
  const [n, w, m, coeffs, v, out] = params(fn, 6) as [Local, Local, Local, Local, Local, Local];
  const [i, j, c, rowM, outRow] = locals(fn, I32, 5) as [Local, Local, Local, Local, Local];
  const [s] = locals(fn, V128, 1) as [Local];
  const body = forLoop(
    j,
    i32.const(0),
    get(v),
    1,
    set(outRow, row(out, j, w)),
    forLoop(
      i,
      i32.const(0),
      get(n),
      1,
      set(s, f32x4.splat(f32.load(at(row(coeffs, j, n), get(i))))),
      set(rowM, row(m, i, w)),
      forLoop(
        c,
        i32.const(0),
        get(w),
        4,
        f32x4.store(
          at(get(outRow), get(c)),
          f32x4.add(four(outRow, c), f32x4.mul(get(s), four(rowM, c))),
        ),
      ),
    ),
  );
  return { builder: fn, body };
}

/**
 * rowUpdate(n, w, dm, m, coeffs, vecs, v, scale, scaled):
 * dM[i] += sum_j coeffs[j, i] vecs[j] (+ scale[i] M[i] when `scaled` is not 0).
 */
export function rowUpdateKernel(): { builder: FunctionBuilder; body: Code } {
  const fn = new FunctionBuilder('rowUpdate');
  const [n, w, dm, m, coeffs, vecs, v, scale, scaled] = params(fn, 9) as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const [i, j, c, dRow, vec, rowM] = locals(fn, I32, 6) as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const [s] = locals(fn, V128, 1) as [Local];
  const body = forLoop(
    i,
    i32.const(0),
    get(n),
    1,
    set(dRow, row(dm, i, w)),
    forLoop(
      j,
      i32.const(0),
      get(v),
      1,
      set(s, f32x4.splat(f32.load(at(row(coeffs, j, n), get(i))))),
      set(vec, row(vecs, j, w)),
      forLoop(
        c,
        i32.const(0),
        get(w),
        4,
        f32x4.store(
          at(get(dRow), get(c)),
          f32x4.add(four(dRow, c), f32x4.mul(get(s), four(vec, c))),
        ),
      ),
    ),
    when(
      get(scaled),
      set(s, f32x4.splat(f32.load(at(get(scale), get(i))))),
      set(rowM, row(m, i, w)),
      forLoop(
        c,
        i32.const(0),
        get(w),
        4,
        f32x4.store(
          at(get(dRow), get(c)),
          f32x4.add(four(dRow, c), f32x4.mul(get(s), four(rowM, c))),
        ),
      ),
    ),
  );
  return { builder: fn, body };
}

/**
 * matMul(m, n, k, a, strideI, strideJ, b, out): out[i] += sum_j a(i, j) b[j] for i < m, j < k,
 * with a(i, j) at float a + i strideI + j strideJ (so a or a^T) and b [k, n], out [m, n].
 * Four rows of out at a time, so that each row of b is loaded once for four (the tail of
 * m mod 4 rows one at a time).
 */
export function matMulKernel(): { builder: FunctionBuilder; body: Code } {
  const fn = new FunctionBuilder('matMul');
  const [m, n, k, a, strideI, strideJ, b, out] = params(fn, 8) as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const [i, j, c, bRow, blocked, o0, o1, o2, o3] = locals(fn, I32, 9) as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const [s0, s1, s2, s3, bv] = locals(fn, V128, 5) as [Local, Local, Local, Local, Local];
  const outRows = [o0, o1, o2, o3];
  const scales = [s0, s1, s2, s3];
  /** a(i + q, j) in all four lanes */
  const coefficient = (q: number): Code =>
    f32x4.splat(
      f32.load(
        at(
          get(a),
          i32.add(
            i32.mul(i32.add(get(i), i32.const(q)), get(strideI)),
            i32.mul(get(j), get(strideJ)),
          ),
        ),
      ),
    );
  const accumulate = (rowAddress: Local, scale: Local): Code =>
    f32x4.store(
      at(get(rowAddress), get(c)),
      f32x4.add(four(rowAddress, c), f32x4.mul(get(scale), get(bv))),
    );
  const body = [
    set(blocked, i32.and(get(m), i32.const(~3))),
    when(
      i32.ltU(i32.const(3), get(m)),
      forLoop(
        i,
        i32.const(0),
        get(blocked),
        4,
        ...outRows.map((o, q) =>
          set(o, at(get(out), i32.mul(i32.add(get(i), i32.const(q)), get(n)))),
        ),
        forLoop(
          j,
          i32.const(0),
          get(k),
          1,
          ...scales.map((s, q) => set(s, coefficient(q))),
          set(bRow, row(b, j, n)),
          forLoop(
            c,
            i32.const(0),
            get(n),
            4,
            set(bv, four(bRow, c)),
            ...outRows.map((o, q) => accumulate(o, scales[q] as Local)),
          ),
        ),
      ),
    ),
    when(
      i32.ltU(get(blocked), get(m)),
      forLoop(
        i,
        get(blocked),
        get(m),
        1,
        set(o0, row(out, i, n)),
        forLoop(
          j,
          i32.const(0),
          get(k),
          1,
          set(s0, coefficient(0)),
          set(bRow, row(b, j, n)),
          forLoop(c, i32.const(0), get(n), 4, set(bv, four(bRow, c)), accumulate(o0, s0)),
        ),
      ),
    ),
  ].flat();
  return { builder: fn, body };
}

/**
 * eraseWrite(n, w, prev, next, writes, erase, vector, retention, retained): one write head's
 * `M_t[i] = M_{t-1}[i] psi[i] (1 - w[i] e) + w[i] v` (psi = 1 unless `retained`).
 */
export function eraseWriteKernel(): { builder: FunctionBuilder; body: Code } {
  const fn = new FunctionBuilder('eraseWrite');
  const [n, w, prev, next, writes, erase, vector, retention, retained] = params(fn, 9) as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const [i, c, rowPrev, rowNext] = locals(fn, I32, 4) as [Local, Local, Local, Local];
  const [psi, weight] = locals(fn, V128, 2) as [Local, Local];
  const body = forLoop(
    i,
    i32.const(0),
    get(n),
    1,
    set(psi, f32x4.splat(f32.const(1))),
    when(get(retained), set(psi, f32x4.splat(f32.load(at(get(retention), get(i)))))),
    set(weight, f32x4.splat(f32.load(at(get(writes), get(i))))),
    set(rowPrev, row(prev, i, w)),
    set(rowNext, row(next, i, w)),
    forLoop(
      c,
      i32.const(0),
      get(w),
      4,
      f32x4.store(
        at(get(rowNext), get(c)),
        f32x4.add(
          f32x4.mul(
            four(rowPrev, c),
            f32x4.mul(
              get(psi),
              f32x4.sub(f32x4.splat(f32.const(1)), f32x4.mul(get(weight), four(erase, c))),
            ),
          ),
          f32x4.mul(get(weight), four(vector, c)),
        ),
      ),
    ),
  );
  return { builder: fn, body };
}

/**
 * eraseWriteBackward(n, w, prev, writes, erase, vector, retention, retained, dNext, dPrev,
 * dWrites, dErase, dVector, dRetention): the gradients of {@link eraseWriteKernel}, all added
 * to: dM_{t-1} [n, w], dw [n], dL/de and dL/dv [w] (summed over slots; dL/de with its sign
 * flipped), dpsi [n] (when `retained`).
 */
export function eraseWriteBackwardKernel(): { builder: FunctionBuilder; body: Code } {
  const fn = new FunctionBuilder('eraseWriteBackward');
  const [n, w, prev, writes, erase, vector, retention, retained, dNext, dPrev, dWrites] = params(
    fn,
    11,
  ) as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const [dErase, dVector, dRetention] = params(fn, 3) as [Local, Local, Local];
  const [i, c, rowPrev, rowDNext, rowDPrev] = locals(fn, I32, 5) as [
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const [psi, weight, d, dOld, e, keep, dPsi, dWeight] = locals(fn, V128, 8) as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const addTo = (base: Local, value: Code): Code =>
    f32x4.store(at(get(base), get(c)), f32x4.add(four(base, c), value));
  const addScalar = (base: Local, sum: Local): Code =>
    f32.store(at(get(base), get(i)), f32.add(f32.load(at(get(base), get(i))), f32x4.sum(sum)));
  const body = forLoop(
    i,
    i32.const(0),
    get(n),
    1,
    set(psi, f32x4.splat(f32.const(1))),
    when(get(retained), set(psi, f32x4.splat(f32.load(at(get(retention), get(i)))))),
    set(weight, f32x4.splat(f32.load(at(get(writes), get(i))))),
    set(rowPrev, row(prev, i, w)),
    set(rowDNext, row(dNext, i, w)),
    set(rowDPrev, row(dPrev, i, w)),
    set(dPsi, zero4()),
    set(dWeight, zero4()),
    forLoop(
      c,
      i32.const(0),
      get(w),
      4,
      set(d, four(rowDNext, c)),
      set(e, four(erase, c)),
      set(keep, f32x4.sub(f32x4.splat(f32.const(1)), f32x4.mul(get(weight), get(e)))),
      set(dOld, f32x4.mul(get(d), four(rowPrev, c))),
      addTo(rowDPrev, f32x4.mul(get(d), f32x4.mul(get(psi), get(keep)))),
      set(dPsi, f32x4.add(get(dPsi), f32x4.mul(get(dOld), get(keep)))),
      set(
        dWeight,
        f32x4.add(
          get(dWeight),
          f32x4.sub(
            f32x4.mul(get(d), four(vector, c)),
            f32x4.mul(get(dOld), f32x4.mul(get(psi), get(e))),
          ),
        ),
      ),
      addTo(dErase, f32x4.mul(get(dOld), f32x4.mul(get(psi), get(weight)))),
      addTo(dVector, f32x4.mul(get(d), get(weight))),
    ),
    addScalar(dWrites, dWeight),
    when(get(retained), addScalar(dRetention, dPsi)),
  );
  return { builder: fn, body };
}
