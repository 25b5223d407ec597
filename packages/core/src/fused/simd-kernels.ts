import {
  at,
  block,
  f32,
  f32x4,
  v128,
  f64x2,
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

// The shared WebAssembly SIMD kernels: products of a memory matrix M [n, w] (row-major, w a
// multiple of 4) with a few vectors of width w or coefficient rows of length n, and one write
// head's erase-and-write, forward and backward (one module per width w, `mann.rows.<w>`); and a
// dense matrix product (`mann.matmul`). Every parameter is an i32: a size, a flag, or the byte
// address of an array in the runtime's memory. `rows.ts` has each row kernel in plain JS with
// the same contract.
//
// The row kernels are built for one width: a row is w / 4 vectors at constant byte offsets
// (immediates of the loads and stores, no loop over columns), and what a kernel reuses across a
// loop stays in locals, which V8 keeps in registers: the row of M across the vectors it is
// dotted with, the row of the result across the terms added to it. The same operations run in
// the same order as in a loop over the columns, so the results are those of that loop bit for
// bit; the kernels take 39-66 % of its time at w = 20 (N = 128, 1 and 4 vectors). Their `w`
// argument is not read.

const row = (base: Local, index: Local, size: Local): Code =>
  at(get(base), i32.mul(get(index), get(size)));
const zero4 = (): Code => f32x4.splat(f32.const(0));
const one4 = (): Code => f32x4.splat(f32.const(1));

/** The q-th vector (floats 4q .. 4q + 3) of the row that starts at byte address `base`. */
const vec = (base: Local, q: number): Code => f32x4.load(get(base), 16 * q);
const storeVec = (base: Local, q: number, value: Code): Code =>
  f32x4.store(get(base), value, 16 * q);
/** Byte address of row `index` of rows of `floats` floats from `base` (a constant width). */
const rowOf = (base: Local, index: Code, floats: number): Code =>
  i32.add(get(base), i32.mul(index, i32.const(4 * floats)));
/** `count` V128 locals named `prefix0`, `prefix1`, ... */
const vectorLocals = (fn: FunctionBuilder, prefix: string, count: number): Local[] =>
  Array.from({ length: count }, (_, q) => fn.locals(V128, `${prefix}${q}`)[`${prefix}${q}`]!);

/**
 * rowDots(n, w, m, vecs, v, out): out[j, i] = vecs[j] . M[i], for j < v, i < n; as
 * rowSquareDots with M[i] * M[i] (element-wise) for M[i]. M[i] stays in locals across j.
 */
function rowDotsKernel(w: number, squared: boolean): KernelCode {
  const name = squared ? 'rowSquareDots' : 'rowDots';
  const fn = new FunctionBuilder(name, ['n', 'w', 'm', 'vecs', 'v', 'out']);
  const { n, m, vecs, v, out } = fn.params;
  const { i, j, rowM, vecRow } = fn.locals(I32, 'i', 'j', 'rowM', 'vecRow');
  const { sum } = fn.locals(V128, 'sum');
  const rowValues = vectorLocals(fn, 'm', w / 4);
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(rowM, rowOf(m, get(i), w)),
    ...rowValues.map((x, q) =>
      set(x, squared ? f32x4.mul(vec(rowM, q), vec(rowM, q)) : vec(rowM, q))),
    set(vecRow, get(vecs)),
    forLoop(j, get(v), 1,
      set(sum, zero4()),
      ...rowValues.map((x, q) => set(sum, f32x4.add(get(sum), f32x4.mul(vec(vecRow, q), get(x))))),
      f32.store(at(row(out, j, n), get(i)), f32x4.sum(sum)),
      set(vecRow, i32.add(get(vecRow), i32.const(4 * w)))));
  return { builder: fn, body };
}

/** rowSquares(n, w, m, out): out[i] = M[i] . M[i]. */
function rowSquaresKernel(w: number): KernelCode {
  const fn = new FunctionBuilder('rowSquares', ['n', 'w', 'm', 'out']);
  const { n, m, out } = fn.params;
  const { i, rowM } = fn.locals(I32, 'i', 'rowM');
  const { sum, x } = fn.locals(V128, 'sum', 'x');
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(rowM, rowOf(m, get(i), w)),
    set(sum, zero4()),
    ...Array.from({ length: w / 4 }, (_, q) => block(
      set(x, vec(rowM, q)),
      set(sum, f32x4.add(get(sum), f32x4.mul(get(x), get(x)))))),
    f32.store(at(get(out), get(i)), f32x4.sum(sum)));
  return { builder: fn, body };
}

/**
 * rowMix(n, w, m, coeffs, v, out): out[j] += sum_i coeffs[j, i] M[i], for j < v; as
 * rowSquareMix with M[i] * M[i] (element-wise) for M[i]. out[j] stays in locals across i.
 */
function rowMixKernel(w: number, squared: boolean): KernelCode {
  const name = squared ? 'rowSquareMix' : 'rowMix';
  const fn = new FunctionBuilder(name, ['n', 'w', 'm', 'coeffs', 'v', 'out']);
  const { n, m, coeffs, v, out } = fn.params;
  const { i, j, rowM, outRow, coeffRow } = fn.locals(I32, 'i', 'j', 'rowM', 'outRow', 'coeffRow');
  const { s } = fn.locals(V128, 's');
  const sums = vectorLocals(fn, 'out', w / 4);
  const element = (q: number): Code =>
    squared ? f32x4.mul(vec(rowM, q), vec(rowM, q)) : vec(rowM, q);
  // prettier-ignore
  const body = forLoop(j, get(v), 1,
    set(outRow, rowOf(out, get(j), w)),
    set(coeffRow, row(coeffs, j, n)),
    ...sums.map((x, q) => set(x, vec(outRow, q))),
    set(rowM, get(m)),
    forLoop(i, get(n), 1,
      set(s, f32x4.loadSplat(at(get(coeffRow), get(i)))),
      ...sums.map((x, q) => set(x, f32x4.add(get(x), f32x4.mul(get(s), element(q))))),
      set(rowM, i32.add(get(rowM), i32.const(4 * w)))),
    ...sums.map((x, q) => storeVec(outRow, q, get(x))));
  return { builder: fn, body };
}

/**
 * rowUpdate(n, w, dm, m, coeffs, vecs, v, scale, scaled):
 * dM[i] += sum_j coeffs[j, i] vecs[j] (+ scale[i] M[i] when `scaled` is not 0). dM[i] stays in
 * locals across j.
 */
function rowUpdateKernel(w: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('rowUpdate', ['n', 'w', 'dm', 'm', 'coeffs', 'vecs', 'v', 'scale', 'scaled']);
  const { n, dm, m, coeffs, vecs, v, scale, scaled } = fn.params;
  const { i, j, dRow, vecRow, rowM } = fn.locals(I32, 'i', 'j', 'dRow', 'vecRow', 'rowM');
  const { s } = fn.locals(V128, 's');
  const sums = vectorLocals(fn, 'd', w / 4);
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(dRow, rowOf(dm, get(i), w)),
    ...sums.map((x, q) => set(x, vec(dRow, q))),
    set(vecRow, get(vecs)),
    forLoop(j, get(v), 1,
      set(s, f32x4.loadSplat(at(row(coeffs, j, n), get(i)))),
      ...sums.map((x, q) => set(x, f32x4.add(get(x), f32x4.mul(get(s), vec(vecRow, q))))),
      set(vecRow, i32.add(get(vecRow), i32.const(4 * w)))),
    when(get(scaled),
      set(s, f32x4.loadSplat(at(get(scale), get(i)))),
      set(rowM, rowOf(m, get(i), w)),
      ...sums.map((x, q) => set(x, f32x4.add(get(x), f32x4.mul(get(s), vec(rowM, q)))))),
    ...sums.map((x, q) => storeVec(dRow, q, get(x))));
  return { builder: fn, body };
}

/**
 * rowProductUpdate(n, w, dm, m, coeffs, vecs, v):
 * dM[i] += M[i] * sum_j coeffs[j, i] vecs[j] (element-wise product with M[i]).
 */
function rowProductUpdateKernel(w: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('rowProductUpdate', ['n', 'w', 'dm', 'm', 'coeffs', 'vecs', 'v']);
  const { n, dm, m, coeffs, vecs, v } = fn.params;
  const { i, j, dRow, rowM, vecRow } = fn.locals(I32, 'i', 'j', 'dRow', 'rowM', 'vecRow');
  const { s } = fn.locals(V128, 's');
  const sums = vectorLocals(fn, 'sum', w / 4);
  // prettier-ignore
  const body = forLoop(i, get(n), 1,
    set(dRow, rowOf(dm, get(i), w)),
    set(rowM, rowOf(m, get(i), w)),
    ...sums.map((x) => set(x, zero4())),
    set(vecRow, get(vecs)),
    forLoop(j, get(v), 1,
      set(s, f32x4.loadSplat(at(row(coeffs, j, n), get(i)))),
      ...sums.map((x, q) => set(x, f32x4.add(get(x), f32x4.mul(get(s), vec(vecRow, q))))),
      set(vecRow, i32.add(get(vecRow), i32.const(4 * w)))),
    ...sums.map((x, q) =>
      storeVec(dRow, q, f32x4.add(vec(dRow, q), f32x4.mul(get(x), vec(rowM, q))))));
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
    f32x4.loadSplat(at(get(aRow), i32.mul(i32.const(q), get(strideI))));
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
function eraseWriteKernel(w: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('eraseWrite', ['n', 'w', 'prev', 'next', 'writes', 'erase', 'vector', 'retention', 'retained']);
  const { n, prev, next, writes, erase, vector, retention, retained } = fn.params;
  const { i, rowPrev, rowNext } = fn.locals(I32, 'i', 'rowPrev', 'rowNext');
  const { psi, weight } = fn.locals(V128, 'psi', 'weight');
  const keep = (withPsi: boolean, q: number): Code => {
    const kept = f32x4.sub(one4(), f32x4.mul(get(weight), vec(erase, q)));
    return withPsi ? f32x4.mul(get(psi), kept) : kept;
  };
  // prettier-ignore
  const rows = (withPsi: boolean): Code => forLoop(i, get(n), 1,
    withPsi ? set(psi, f32x4.loadSplat(at(get(retention), get(i)))) : block(),
    set(weight, f32x4.loadSplat(at(get(writes), get(i)))),
    set(rowPrev, rowOf(prev, get(i), w)),
    set(rowNext, rowOf(next, get(i), w)),
    ...Array.from({ length: w / 4 }, (_, q) => storeVec(rowNext, q, f32x4.add(
      f32x4.mul(vec(rowPrev, q), keep(withPsi, q)),
      f32x4.mul(get(weight), vec(vector, q))))));
  return { builder: fn, body: ifElse(get(retained), rows(true), rows(false)) };
}

/**
 * eraseWriteBackward(n, w, prev, writes, erase, vector, retention, retained, dNext, dPrev,
 * dWrites, dErase, dVector, dRetention): the gradients of {@link eraseWriteKernel}, all added
 * to: dM_{t-1} [n, w], dw [n], dL/de and dL/dv [w] (summed over slots; dL/de with its sign
 * flipped; both in locals across the slots), dpsi [n] (when `retained`; the loop is built
 * twice, without psi when it is 1).
 */
function eraseWriteBackwardKernel(w: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('eraseWriteBackward', ['n', 'w', 'prev', 'writes', 'erase', 'vector', 'retention', 'retained', 'dNext', 'dPrev', 'dWrites', 'dErase', 'dVector', 'dRetention']);
  // prettier-ignore
  const { n, prev, writes, erase, vector, retention, retained, dNext, dPrev, dWrites, dErase, dVector, dRetention } = fn.params;
  const { i, rowPrev, rowDNext, rowDPrev } = fn.locals(I32, 'i', 'rowPrev', 'rowDNext', 'rowDPrev');
  // prettier-ignore
  const { psi, weight, d, dOld, e, keep, dPsi, dWeight } = fn.locals(V128, 'psi', 'weight', 'd', 'dOld', 'e', 'keep', 'dPsi', 'dWeight');
  const dErases = vectorLocals(fn, 'dErase', w / 4);
  const dVectors = vectorLocals(fn, 'dVector', w / 4);
  const addScalar = (base: Local, sum: Local): Code =>
    f32.store(at(get(base), get(i)), f32.add(f32.load(at(get(base), get(i))), f32x4.sum(sum)));
  /** x psi, or x when psi is 1 */
  const times = (withPsi: boolean, x: Code): Code => (withPsi ? f32x4.mul(get(psi), x) : x);
  // prettier-ignore
  const column = (withPsi: boolean, q: number): Code => block(
    set(d, vec(rowDNext, q)),
    set(e, vec(erase, q)),
    set(keep, f32x4.sub(one4(), f32x4.mul(get(weight), get(e)))),
    set(dOld, f32x4.mul(get(d), vec(rowPrev, q))),
    storeVec(rowDPrev, q, f32x4.add(vec(rowDPrev, q), f32x4.mul(get(d), times(withPsi, get(keep))))),
    withPsi ? set(dPsi, f32x4.add(get(dPsi), f32x4.mul(get(dOld), get(keep)))) : block(),
    set(dWeight, f32x4.add(get(dWeight), f32x4.sub(
      f32x4.mul(get(d), vec(vector, q)), f32x4.mul(get(dOld), times(withPsi, get(e)))))),
    set(dErases[q]!, f32x4.add(get(dErases[q]!), f32x4.mul(get(dOld), times(withPsi, get(weight))))),
    set(dVectors[q]!, f32x4.add(get(dVectors[q]!), f32x4.mul(get(d), get(weight)))));
  // prettier-ignore
  const rows = (withPsi: boolean): Code => forLoop(i, get(n), 1,
    withPsi ? set(psi, f32x4.loadSplat(at(get(retention), get(i)))) : block(),
    set(weight, f32x4.loadSplat(at(get(writes), get(i)))),
    set(rowPrev, rowOf(prev, get(i), w)),
    set(rowDNext, rowOf(dNext, get(i), w)),
    set(rowDPrev, rowOf(dPrev, get(i), w)),
    set(dPsi, zero4()),
    set(dWeight, zero4()),
    ...Array.from({ length: w / 4 }, (_, q) => column(withPsi, q)),
    addScalar(dWrites, dWeight),
    withPsi ? addScalar(dRetention, dPsi) : block());
  // prettier-ignore
  const body = block(
    ...dErases.map((x, q) => set(x, vec(dErase, q))),
    ...dVectors.map((x, q) => set(x, vec(dVector, q))),
    ifElse(get(retained), rows(true), rows(false)),
    ...dErases.map((x, q) => storeVec(dErase, q, get(x))),
    ...dVectors.map((x, q) => storeVec(dVector, q, get(x))));
  return { builder: fn, body };
}

/** The row kernels of one width, by name (see each builder above for its parameters). */
export type RowKernelExports = Readonly<
  Record<
    | 'rowDots'
    | 'rowSquareDots'
    | 'rowSquares'
    | 'rowMix'
    | 'rowSquareMix'
    | 'rowUpdate'
    | 'rowProductUpdate'
    | 'eraseWrite'
    | 'eraseWriteBackward',
    Kernel
  >
>;

const rowModules = new WeakMap<SimdRuntime, Map<number, RowKernelExports | undefined>>();

/**
 * The row kernels for rows of `w` floats (a multiple of 4) on `runtime` (module `mann.rows.<w>`,
 * built the first time any runtime asks for it); undefined when `w` is not a multiple of 4 or
 * the module does not validate.
 */
export function rowKernelExports(runtime: SimdRuntime, w: number): RowKernelExports | undefined {
  let byWidth = rowModules.get(runtime);
  if (!byWidth) rowModules.set(runtime, (byWidth = new Map()));
  if (byWidth.has(w)) return byWidth.get(w);
  const kernels =
    Number.isInteger(w) && w > 0 && w % 4 === 0
      ? runtime.kernels<keyof RowKernelExports>(`mann.rows.${w}`, () => [
          rowDotsKernel(w, false),
          rowDotsKernel(w, true),
          rowSquaresKernel(w),
          rowMixKernel(w, false),
          rowMixKernel(w, true),
          rowUpdateKernel(w),
          rowProductUpdateKernel(w),
          eraseWriteKernel(w),
          eraseWriteBackwardKernel(w),
        ])
      : undefined;
  byWidth.set(w, kernels);
  return kernels;
}

/**
 * addRows(rows, cols, values, stride, bias): `values[r stride + c] += bias[c]` for r < rows, c <
 * cols, four columns at a time and the last `cols mod 4` one by one: float32 additions, as a JS
 * loop over Float32Arrays rounds them.
 */
function addRowsKernel(): KernelCode {
  const fn = new FunctionBuilder('addRows', ['rows', 'cols', 'values', 'stride', 'bias']);
  const { rows, cols, values, stride, bias } = fn.params;
  const { r, c, row, whole } = fn.locals(I32, 'r', 'c', 'row', 'whole');
  // prettier-ignore
  const body = block(
    set(whole, i32.and(get(cols), i32.const(~3))),
    forLoop(r, get(rows), 1,
      set(row, at(get(values), i32.mul(get(r), get(stride)))),
      forLoop(c, get(whole), 4,
        f32x4.store(at(get(row), get(c)),
          f32x4.add(f32x4.load(at(get(row), get(c))), f32x4.load(at(get(bias), get(c)))))),
      forRange(c, get(whole), get(cols), 1,
        f32.store(at(get(row), get(c)),
          f32.add(f32.load(at(get(row), get(c))), f32.load(at(get(bias), get(c))))))));
  return { builder: fn, body };
}

/**
 * columnSums(rows, cols, values, sums): `sums[c] += values[r cols + c]` for every row r in
 * order, in float64 (`sums` is float64, of cols rounded up to even), two columns at a time. For
 * an odd `cols` the last pair's second lane reads one float past each row (past the last one
 * too: the caller leaves room) into `sums[cols]`, which is not a result.
 */
function columnSumsKernel(): KernelCode {
  const fn = new FunctionBuilder('columnSums', ['rows', 'cols', 'values', 'sums']);
  const { rows, cols, values, sums } = fn.params;
  const { r, c, row, sum } = fn.locals(I32, 'r', 'c', 'row', 'sum');
  // prettier-ignore
  const body = forLoop(r, get(rows), 1,
    set(row, at(get(values), i32.mul(get(r), get(cols)))),
    forLoop(c, get(cols), 2,
      set(sum, i32.add(get(sums), i32.shl(get(c), 3))),
      f32x4.store(get(sum),
        f64x2.add(f32x4.load(get(sum)), f64x2.promoteLow(v128.load64(at(get(row), get(c))))))));
  return { builder: fn, body };
}

/**
 * The row-vector addition and the column sums of the dense products (module `mann.columns`) on
 * `runtime`; undefined where the module does not validate.
 */
export function columnKernelExports(
  runtime: SimdRuntime,
): Readonly<Record<'addRows' | 'columnSums', Kernel>> | undefined {
  return runtime.kernels<'addRows' | 'columnSums'>('mann.columns', () => [
    addRowsKernel(),
    columnSumsKernel(),
  ]);
}

/** The dense product `matMul` on `runtime` (module `mann.matmul`); undefined where it does not validate. */
export function matMulExports(
  runtime: SimdRuntime,
): Readonly<Record<'matMul', Kernel>> | undefined {
  return runtime.kernels<'matMul'>('mann.matmul', () => [matMulKernel()]);
}
