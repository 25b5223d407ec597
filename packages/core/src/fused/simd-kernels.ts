import {
  at,
  block,
  f32,
  f32x4,
  forLoop,
  forRange,
  FunctionBuilder,
  ifElse,
  get,
  I32,
  i32,
  set,
  V128,
  when,
  type Code,
  type KernelCode,
  type Local,
} from './wasm.js';
import type { Kernel, SimdRuntime } from './simd.js';

// The shared WebAssembly SIMD kernels (one module, `mann.rows`): products of a memory matrix
// M [n, w] (row-major, w a multiple of 4) with a few vectors of width w or coefficient rows of
// length n, a dense matrix product, and one write head's erase-and-write, forward and
// backward; four columns at a time. Every parameter is an i32: a size, a flag, or the byte
// address of an array in the runtime's memory. `rows.ts` has each in plain JS with the same
// contract.

const row = (base: Local, index: Local, size: Local): Code =>
  at(get(base), i32.mul(get(index), get(size)));
const four = (base: Local, c: Local): Code => f32x4.load(at(get(base), get(c)));
const zero4 = (): Code => f32x4.splat(f32.const(0));
const one4 = (): Code => f32x4.splat(f32.const(1));
/** `*(base + c) += value`, four lanes */
const addTo = (base: Local, c: Local, value: Code): Code =>
  f32x4.store(at(get(base), get(c)), f32x4.add(four(base, c), value));

/**
 * rowDots(n, w, m, vecs, v, out): out[j, i] = vecs[j] . M[i], for j < v, i < n; as
 * rowSquareDots with M[i] * M[i] (element-wise) for M[i].
 */
function rowDotsKernel(squared: boolean): KernelCode {
  const name = squared ? 'rowSquareDots' : 'rowDots';
  const fn = new FunctionBuilder(name, ['n', 'w', 'm', 'vecs', 'v', 'out']);
  const { n, w, m, vecs, v, out } = fn.params;
  const { i, j, c, rowM, vec } = fn.locals(I32, 'i', 'j', 'c', 'rowM', 'vec');
  const { sum } = fn.locals(V128, 'sum');
  const element = (): Code => (squared ? f32x4.mul(four(rowM, c), four(rowM, c)) : four(rowM, c));
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(rowM, row(m, i, w)),
    forLoop(j, get(v), 1,
      set(vec, row(vecs, j, w)),
      set(sum, zero4()),
      forLoop(c, get(w), 4,
        set(sum, f32x4.add(get(sum), f32x4.mul(four(vec, c), element())))),
      f32.store(at(row(out, j, n), get(i)), f32x4.sum(sum))));
  return { builder: fn, body };
}

/** rowSquares(n, w, m, out): out[i] = M[i] . M[i]. */
function rowSquaresKernel(): KernelCode {
  const fn = new FunctionBuilder('rowSquares', ['n', 'w', 'm', 'out']);
  const { n, w, m, out } = fn.params;
  const { i, c, rowM } = fn.locals(I32, 'i', 'c', 'rowM');
  const { sum, x } = fn.locals(V128, 'sum', 'x');
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(rowM, row(m, i, w)),
    set(sum, zero4()),
    forLoop(c, get(w), 4,
      set(x, four(rowM, c)),
      set(sum, f32x4.add(get(sum), f32x4.mul(get(x), get(x))))),
    f32.store(at(get(out), get(i)), f32x4.sum(sum)));
  return { builder: fn, body };
}

/**
 * rowMix(n, w, m, coeffs, v, out): out[j] += sum_i coeffs[j, i] M[i], for j < v; as
 * rowSquareMix with M[i] * M[i] (element-wise) for M[i].
 */
function rowMixKernel(squared: boolean): KernelCode {
  const name = squared ? 'rowSquareMix' : 'rowMix';
  const fn = new FunctionBuilder(name, ['n', 'w', 'm', 'coeffs', 'v', 'out']);
  const { n, w, m, coeffs, v, out } = fn.params;
  const { i, j, c, rowM, outRow } = fn.locals(I32, 'i', 'j', 'c', 'rowM', 'outRow');
  const { s } = fn.locals(V128, 's');
  const element = (): Code => (squared ? f32x4.mul(four(rowM, c), four(rowM, c)) : four(rowM, c));
  // prettier-ignore
  const body = forLoop(j, get(v), 1,
    set(outRow, row(out, j, w)),
    forLoop(i, get(n), 1,
      set(s, f32x4.splat(f32.load(at(row(coeffs, j, n), get(i))))),
      set(rowM, row(m, i, w)),
      forLoop(c, get(w), 4,
        addTo(outRow, c, f32x4.mul(get(s), element())))));
  return { builder: fn, body };
}

/**
 * rowUpdate(n, w, dm, m, coeffs, vecs, v, scale, scaled):
 * dM[i] += sum_j coeffs[j, i] vecs[j] (+ scale[i] M[i] when `scaled` is not 0).
 */
function rowUpdateKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('rowUpdate', ['n', 'w', 'dm', 'm', 'coeffs', 'vecs', 'v', 'scale', 'scaled']);
  const { n, w, dm, m, coeffs, vecs, v, scale, scaled } = fn.params;
  const { i, j, c, dRow, vec, rowM } = fn.locals(I32, 'i', 'j', 'c', 'dRow', 'vec', 'rowM');
  const { s } = fn.locals(V128, 's');
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(dRow, row(dm, i, w)),
    forLoop(j, get(v), 1,
      set(s, f32x4.splat(f32.load(at(row(coeffs, j, n), get(i))))),
      set(vec, row(vecs, j, w)),
      forLoop(c, get(w), 4,
        addTo(dRow, c, f32x4.mul(get(s), four(vec, c))))),
    when(get(scaled),
      set(s, f32x4.splat(f32.load(at(get(scale), get(i))))),
      set(rowM, row(m, i, w)),
      forLoop(c, get(w), 4,
        addTo(dRow, c, f32x4.mul(get(s), four(rowM, c))))));
  return { builder: fn, body };
}

/**
 * rowProductUpdate(n, w, dm, m, coeffs, vecs, v):
 * dM[i] += M[i] * sum_j coeffs[j, i] vecs[j] (element-wise product with M[i]).
 */
function rowProductUpdateKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('rowProductUpdate', ['n', 'w', 'dm', 'm', 'coeffs', 'vecs', 'v']);
  const { n, w, dm, m, coeffs, vecs, v } = fn.params;
  const { i, j, c, dRow, rowM } = fn.locals(I32, 'i', 'j', 'c', 'dRow', 'rowM');
  const { sum } = fn.locals(V128, 'sum');
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(dRow, row(dm, i, w)),
    set(rowM, row(m, i, w)),
    forLoop(c, get(w), 4,
      set(sum, zero4()),
      forLoop(j, get(v), 1,
        set(sum, f32x4.add(get(sum), f32x4.mul(
          f32x4.splat(f32.load(at(row(coeffs, j, n), get(i)))),
          f32x4.load(at(row(vecs, j, w), get(c))))))),
      addTo(dRow, c, f32x4.mul(get(sum), four(rowM, c)))));
  return { builder: fn, body };
}

/** The span of j in matMul. */
const SPAN = 64;

/**
 * matMul(m, n, k, a, strideI, strideJ, b, out): out[i] += sum_j a(i, j) b[j] for i < m, j < k,
 * with a(i, j) at float a + i strideI + j strideJ (so a or a^T) and b [k, n], out [m, n] (n a
 * multiple of 4). Register tiles of out, 4 rows by 8 columns, summed over all j in locals and
 * added to out once per span of j: each b load serves four rows and out is not reloaded per j ([16, 256] x
 * [256, 1024] twice as fast as with one row of out updated in memory per j). The tails run in
 * tiles of 4 rows by 4 columns, then 1 row by 4 columns. j runs in spans of SPAN, so that the
 * rows of b a span reads stay in cache for every tile.
 */
function matMulKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('matMul', ['m', 'n', 'k', 'a', 'strideI', 'strideJ', 'b', 'out']);
  const { m, n, k, a, strideI, strideJ, b, out } = fn.params;
  // prettier-ignore
  const { i, j, c, bRow, blocked, wide, aRow, jc, jEnd } = fn.locals(I32, 'i', 'j', 'c', 'bRow', 'blocked', 'wide', 'aRow', 'jc', 'jEnd');
  const { s, bv0, bv1 } = fn.locals(V128, 's', 'bv0', 'bv1');
  /** The tile's sums, by row and vector: out[i + q, c + 4v ..] */
  const sums = [0, 1, 2, 3].map((q) => Object.values(fn.locals(V128, `s${q}0`, `s${q}1`)));
  const loads = [bv0, bv1];
  /** a(i + q, j) in all four lanes (aRow = a + i strideI + j strideJ, in floats from a) */
  const coefficient = (q: number): Code =>
    f32x4.splat(f32.load(at(get(aRow), i32.mul(i32.const(q), get(strideI)))));
  /** The tile of `rows` rows from i and `vectors` x 4 columns from c, over j in [jc, jEnd). */
  const tile = (rows: number, vectors: number): Code => {
    const tileSums = sums.slice(0, rows).map((line) => line.slice(0, vectors));
    return block(
      ...tileSums.flat().map((sum) => set(sum, zero4())),
      set(bRow, at(get(b), i32.add(i32.mul(get(jc), get(n)), get(c)))),
      set(aRow, at(get(a), i32.add(i32.mul(get(i), get(strideI)), i32.mul(get(jc), get(strideJ))))),
      forRange(
        j,
        get(jc),
        get(jEnd),
        1,
        ...loads.slice(0, vectors).map((bv, v) => set(bv, f32x4.load(get(bRow), 16 * v))),
        ...tileSums.map((line, q) =>
          block(
            set(s, coefficient(q)),
            ...line.map((sum, v) =>
              set(sum, f32x4.add(get(sum), f32x4.mul(get(s), get(loads[v] as Local)))),
            ),
          ),
        ),
        set(bRow, i32.add(get(bRow), i32.shl(get(n), 2))),
        set(aRow, i32.add(get(aRow), i32.shl(get(strideJ), 2))),
      ),
      ...tileSums.flatMap((line, q) =>
        line.map((sum, v) => {
          const address = at(
            get(out),
            i32.add(i32.mul(i32.add(get(i), i32.const(q)), get(n)), get(c)),
          );
          return f32x4.store(address, f32x4.add(f32x4.load(address, 16 * v), get(sum)), 16 * v);
        }),
      ),
    );
  };
  // prettier-ignore
  const body = block(
    set(blocked, i32.and(get(m), i32.const(~3))),
    set(wide, i32.and(get(n), i32.const(~7))),
    forLoop(jc, get(k), SPAN,
      set(jEnd, i32.add(get(jc), i32.const(SPAN))),
      when(i32.ltS(get(k), get(jEnd)), set(jEnd, get(k))),
      forLoop(i, get(blocked), 4,
        forLoop(c, get(wide), 8, tile(4, 2)),
        forRange(c, get(wide), get(n), 4, tile(4, 1))),
      forRange(i, get(blocked), get(m), 1,
        forLoop(c, get(n), 4, tile(1, 1)))));
  return { builder: fn, body };
}

/**
 * eraseWrite(n, w, prev, next, writes, erase, vector, retention, retained): one write head's
 * `M_t[i] = M_{t-1}[i] psi[i] (1 - w[i] e) + w[i] v` (psi = 1 unless `retained`; the loop is
 * built twice, without psi's products when it is 1).
 */
function eraseWriteKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('eraseWrite', ['n', 'w', 'prev', 'next', 'writes', 'erase', 'vector', 'retention', 'retained']);
  const { n, w, prev, next, writes, erase, vector, retention, retained } = fn.params;
  const { i, c, rowPrev, rowNext } = fn.locals(I32, 'i', 'c', 'rowPrev', 'rowNext');
  const { psi, weight } = fn.locals(V128, 'psi', 'weight');
  const keep = (withPsi: boolean): Code => {
    const kept = f32x4.sub(one4(), f32x4.mul(get(weight), four(erase, c)));
    return withPsi ? f32x4.mul(get(psi), kept) : kept;
  };
  // prettier-ignore
  const rows = (withPsi: boolean): Code => forLoop(i, get(n), 1,
    withPsi ? set(psi, f32x4.splat(f32.load(at(get(retention), get(i))))) : block(),
    set(weight, f32x4.splat(f32.load(at(get(writes), get(i))))),
    set(rowPrev, row(prev, i, w)),
    set(rowNext, row(next, i, w)),
    forLoop(c, get(w), 4,
      f32x4.store(at(get(rowNext), get(c)), f32x4.add(
        f32x4.mul(four(rowPrev, c), keep(withPsi)),
        f32x4.mul(get(weight), four(vector, c))))));
  return { builder: fn, body: ifElse(get(retained), rows(true), rows(false)) };
}

/**
 * eraseWriteBackward(n, w, prev, writes, erase, vector, retention, retained, dNext, dPrev,
 * dWrites, dErase, dVector, dRetention): the gradients of {@link eraseWriteKernel}, all added
 * to: dM_{t-1} [n, w], dw [n], dL/de and dL/dv [w] (summed over slots; dL/de with its sign
 * flipped), dpsi [n] (when `retained`; the loop is built twice, without psi when it is 1).
 */
function eraseWriteBackwardKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('eraseWriteBackward', ['n', 'w', 'prev', 'writes', 'erase', 'vector', 'retention', 'retained', 'dNext', 'dPrev', 'dWrites', 'dErase', 'dVector', 'dRetention']);
  // prettier-ignore
  const { n, w, prev, writes, erase, vector, retention, retained, dNext, dPrev, dWrites, dErase, dVector, dRetention } = fn.params;
  const { i, c, rowPrev, rowDNext, rowDPrev } = fn.locals(
    I32,
    'i',
    'c',
    'rowPrev',
    'rowDNext',
    'rowDPrev',
  );
  // prettier-ignore
  const { psi, weight, d, dOld, e, keep, dPsi, dWeight } = fn.locals(V128, 'psi', 'weight', 'd', 'dOld', 'e', 'keep', 'dPsi', 'dWeight');
  const addScalar = (base: Local, sum: Local): Code =>
    f32.store(at(get(base), get(i)), f32.add(f32.load(at(get(base), get(i))), f32x4.sum(sum)));
  /** x psi, or x when psi is 1 */
  const times = (withPsi: boolean, x: Code): Code => (withPsi ? f32x4.mul(get(psi), x) : x);
  // prettier-ignore
  const rows = (withPsi: boolean): Code => forLoop(i, get(n), 1,
    withPsi ? set(psi, f32x4.splat(f32.load(at(get(retention), get(i))))) : block(),
    set(weight, f32x4.splat(f32.load(at(get(writes), get(i))))),
    set(rowPrev, row(prev, i, w)),
    set(rowDNext, row(dNext, i, w)),
    set(rowDPrev, row(dPrev, i, w)),
    set(dPsi, zero4()),
    set(dWeight, zero4()),
    forLoop(c, get(w), 4,
      set(d, four(rowDNext, c)),
      set(e, four(erase, c)),
      set(keep, f32x4.sub(one4(), f32x4.mul(get(weight), get(e)))),
      set(dOld, f32x4.mul(get(d), four(rowPrev, c))),
      addTo(rowDPrev, c, f32x4.mul(get(d), times(withPsi, get(keep)))),
      withPsi ? set(dPsi, f32x4.add(get(dPsi), f32x4.mul(get(dOld), get(keep)))) : block(),
      set(dWeight, f32x4.add(get(dWeight), f32x4.sub(
        f32x4.mul(get(d), four(vector, c)), f32x4.mul(get(dOld), times(withPsi, get(e)))))),
      addTo(dErase, c, f32x4.mul(get(dOld), times(withPsi, get(weight)))),
      addTo(dVector, c, f32x4.mul(get(d), get(weight)))),
    addScalar(dWrites, dWeight),
    withPsi ? addScalar(dRetention, dPsi) : block());
  return { builder: fn, body: ifElse(get(retained), rows(true), rows(false)) };
}

/** The kernels of the shared module, by name (see each builder above for its parameters). */
export type RowKernelExports = Readonly<
  Record<
    | 'rowDots'
    | 'rowSquareDots'
    | 'rowSquares'
    | 'rowMix'
    | 'rowSquareMix'
    | 'rowUpdate'
    | 'rowProductUpdate'
    | 'matMul'
    | 'eraseWrite'
    | 'eraseWriteBackward',
    Kernel
  >
>;

/** The shared module's kernels on `runtime` (undefined when it does not validate). */
export function rowKernelExports(runtime: SimdRuntime): RowKernelExports | undefined {
  return runtime.kernels('mann.rows', () => [
    rowDotsKernel(false),
    rowDotsKernel(true),
    rowSquaresKernel(),
    rowMixKernel(false),
    rowMixKernel(true),
    rowUpdateKernel(),
    rowProductUpdateKernel(),
    matMulKernel(),
    eraseWriteKernel(),
    eraseWriteBackwardKernel(),
  ]);
}
