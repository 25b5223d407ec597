import type { Kernel, SimdRuntime } from './simd.js';
import {
  block,
  f32x4,
  f64x2,
  forLoop,
  FunctionBuilder,
  get,
  I32,
  i32,
  i64x2,
  ifElse,
  set,
  V128,
  v128,
  type Code,
  type KernelCode,
  type Local,
} from './wasm.js';

// The LSTM cell's forward and backward steps (lstm-cell.ts) in WebAssembly SIMD, two units at a
// time in float64 lanes, bit for bit the plain-JS cell: the same double-precision operations in the
// same order, and an exponential that is V8's Math.exp exactly. V8 computes Math.exp with
// fdlibm's e_exp.c, plus one special case, exp(1) = Math.E (src/base/ieee754.cc); `expOf` below
// does the same operations, with its branches turned into lane selects (the tests compare it
// with Math.exp at every range boundary of fdlibm's and at 10,000 random arguments). The JS cell spends most of its
// time in Math.exp (five per unit and step), a call per value. Other engines' Math.exp may
// differ in the last bit; the kernel's results are the same everywhere.
//
// fdlibm's exp(x): x = k ln2 + r with k = 0 for |x| <= ln2 / 2, k = +-1 up to 3 ln2 / 2, else
// k = trunc(x / ln2 +- 1/2); then a rational approximation of e^r, times 2^k. Its separate
// formula for k = 0 is the general one with hi = x and lo = 0, to the bit (the division's sign
// and a subtraction from 0 are exact), so one formula serves every lane. Arguments of 700 and
// more in magnitude (and NaN) are left to the JS cell: the kernel reports them, and its caller
// computes the whole step in JS again. A trained LSTM's pre-activations are far from there.

/** Arguments of the exponential from this magnitude on are left to the JS cell. */
export const SIMD_EXP_LIMIT = 700;

const words = new Float64Array(1);
const wordsHigh = new Uint32Array(words.buffer);
/** The double whose high 32 bits are `high` and whose low 32 bits are 0. */
function fromHighWord(high: number): number {
  wordsHigh[0] = 0;
  wordsHigh[1] = high;
  return words[0] as number;
}

// fdlibm's constants (e_exp.c)
const LN2_HI = 6.9314718036912381649e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.442695040888963387;
const P1 = 1.66666666666666019037e-1;
const P2 = -2.77777777770155933842e-3;
const P3 = 6.61375632143793436117e-5;
const P4 = -1.6533902205465251539e-6;
const P5 = 4.13813679705723846039e-8;
/** |x| from which k != 0: fdlibm's test on the high word, hx > 0x3fd62e42. */
const K_NONZERO = fromHighWord(0x3fd62e43);
/** |x| from which k = trunc(x / ln2 +- 1/2): hx >= 0x3ff0a2b2. */
const K_ROUNDED = fromHighWord(0x3ff0a2b2);
/** |x| below which exp(x) = 1 + x: hx < 0x3e300000, 2^-28. */
const TINY = fromHighWord(0x3e300000);
/** 2^52 + 1023: t + MAGIC has t + 1023 in its low mantissa bits (|t| < 1024). */
const MAGIC = 2 ** 52 + 1023;

/** The sign bit of each float64 lane. */
const SIGN = v128.i32x4([0, -0x80000000, 0, -0x80000000]);

/** The locals `expOf` uses, declared once per kernel. */
export interface ExpLocals {
  readonly x: Local;
  readonly ax: Local;
  readonly t: Local;
  readonly hi: Local;
  readonly lo: Local;
  readonly r: Local;
  readonly rr: Local;
  readonly c: Local;
  /** All ones in a lane while every argument seen there was below SIMD_EXP_LIMIT. */
  readonly ok: Local;
}

/** Declares the locals of {@link expOf} in `fn`. */
export function expLocals(fn: FunctionBuilder): ExpLocals {
  return fn.locals(V128, 'x', 'ax', 't', 'hi', 'lo', 'r', 'rr', 'c', 'ok');
}

/** `value` with the sign of each lane of local `x`. */
const withSignOf = (x: Local, value: number): Code =>
  v128.or(v128.and(get(x), SIGN), f64x2.const(value));

/**
 * exp of each float64 lane of `argument`, as Math.exp computes it, left on the stack; clears
 * the lanes of `l.ok` whose argument is not below {@link SIMD_EXP_LIMIT} in magnitude.
 */
export function expOf(argument: Code, l: ExpLocals): Code {
  const { x, ax, t, hi, lo, r, rr, c, ok } = l;
  const poly = f64x2.mul(
    get(rr),
    f64x2.add(
      f64x2.const(P1),
      f64x2.mul(
        get(rr),
        f64x2.add(
          f64x2.const(P2),
          f64x2.mul(
            get(rr),
            f64x2.add(
              f64x2.const(P3),
              f64x2.mul(get(rr), f64x2.add(f64x2.const(P4), f64x2.mul(get(rr), f64x2.const(P5)))),
            ),
          ),
        ),
      ),
    ),
  );
  const rounded = f64x2.trunc(
    f64x2.add(f64x2.mul(f64x2.const(INV_LN2), get(x)), withSignOf(x, 0.5)),
  );
  return block(
    set(x, argument),
    set(ax, f64x2.abs(get(x))),
    set(ok, v128.and(get(ok), f64x2.lt(get(ax), f64x2.const(SIMD_EXP_LIMIT)))),
    // k: 0, +-1, or rounded; as a double in t
    set(
      t,
      v128.select(
        f64x2.const(0),
        v128.select(withSignOf(x, 1), rounded, f64x2.lt(get(ax), f64x2.const(K_ROUNDED))),
        f64x2.lt(get(ax), f64x2.const(K_NONZERO)),
      ),
    ),
    set(hi, f64x2.sub(get(x), f64x2.mul(get(t), f64x2.const(LN2_HI)))),
    set(lo, f64x2.mul(get(t), f64x2.const(LN2_LO))),
    set(r, f64x2.sub(get(hi), get(lo))),
    set(rr, f64x2.mul(get(r), get(r))),
    set(c, f64x2.sub(get(r), poly)),
    // y = 1 - ((lo - (r c) / (2 - c)) - hi), times 2^k; 1 + x for tiny x; V8's exp(1) = e
    v128.select(
      f64x2.const(Math.E),
      v128.select(
        f64x2.add(f64x2.const(1), get(x)),
        f64x2.mul(
          f64x2.sub(
            f64x2.const(1),
            f64x2.sub(
              f64x2.sub(
                get(lo),
                f64x2.div(f64x2.mul(get(r), get(c)), f64x2.sub(f64x2.const(2), get(c))),
              ),
              get(hi),
            ),
          ),
          i64x2.shl(f64x2.add(get(t), f64x2.const(MAGIC)), 52),
        ),
        f64x2.lt(get(ax), f64x2.const(TINY)),
      ),
      f64x2.eq(get(x), f64x2.const(1)),
    ),
  );
}

/** 1 / (1 + exp(-z)) of each lane, as the JS cell's sigmoid. */
const sigmoidOf = (z: Code, l: ExpLocals): Code =>
  f64x2.div(f64x2.const(1), f64x2.add(f64x2.const(1), expOf(f64x2.neg(z), l)));

/** 1 - 2 / (exp(2 z) + 1) of each lane, as the JS cell's tanh. */
const tanhOf = (z: Code, l: ExpLocals): Code =>
  f64x2.sub(
    f64x2.const(1),
    f64x2.div(f64x2.const(2), f64x2.add(expOf(f64x2.mul(f64x2.const(2), z), l), f64x2.const(1))),
  );

/** The two float32s at float index `index` of the array at byte `base`, as doubles. */
const load2 = (base: Local, index: Code): Code =>
  f64x2.promoteLow(v128.load64(i32.add(get(base), i32.shl(index, 2))));

/** Stores the two lanes of `value`, rounded to float32, at float index `index` of `base`. */
const store2 = (base: Local, index: Code, value: Code): Code =>
  v128.store64(i32.add(get(base), i32.shl(index, 2)), f64x2.demote(value));

/**
 * lstmCellForward(batch, units, z, recurrent, hasRecurrent, prevCell, gates, cell, tanhCell,
 * hidden, clipped, clip, ok): the JS cell's forward step for `units` even, every array
 * contiguous ([B, 4C] or [B, C]); `clip` is the byte address of a float64, `ok` of 16 bytes
 * that end up all ones unless an argument of the exponential was out of range.
 */
function lstmCellForwardKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('lstmCellForward', ['batch', 'units', 'z', 'recurrent', 'hasRecurrent', 'prevCell', 'gates', 'cell', 'tanhCell', 'hidden', 'clipped', 'clip', 'ok']);
  const p = fn.params;
  const { b, u, row, at } = fn.locals(I32, 'b', 'u', 'row', 'at');
  const { gi, gf, gg, go, cv, tc, h, limit, negLimit } = fn.locals(
    V128,
    'gi',
    'gf',
    'gg',
    'go',
    'cv',
    'tc',
    'h',
    'limit',
    'negLimit',
  );
  const l = expLocals(fn);
  const gates = 4;
  const gateIndex = (q: number): Code => i32.add(get(row), i32.mul(i32.const(q), get(p.units)));
  const preactivation = (q: number): Code => load2(p.z, gateIndex(q));
  const withRecurrent = (q: number, value: Code): Code =>
    f64x2.add(value, load2(p.recurrent, gateIndex(q)));
  const unitPair = (recurrent: boolean): Code => {
    const z = (q: number): Code =>
      recurrent ? withRecurrent(q, preactivation(q)) : preactivation(q);
    return block(
      set(gi, sigmoidOf(z(0), l)),
      set(gf, sigmoidOf(z(1), l)),
      set(gg, tanhOf(z(2), l)),
      set(go, sigmoidOf(z(3), l)),
      store2(p.gates, gateIndex(0), get(gi)),
      store2(p.gates, gateIndex(1), get(gf)),
      store2(p.gates, gateIndex(2), get(gg)),
      store2(p.gates, gateIndex(3), get(go)),
      // c = f c_{t-1} + i g, tanh(c), h = o tanh(c), clip(h)
      set(
        cv,
        f64x2.add(f64x2.mul(get(gf), load2(p.prevCell, get(at))), f64x2.mul(get(gi), get(gg))),
      ),
      store2(p.cell, get(at), get(cv)),
      set(tc, tanhOf(get(cv), l)),
      store2(p.tanhCell, get(at), get(tc)),
      set(h, f64x2.mul(get(go), get(tc))),
      store2(p.hidden, get(at), get(h)),
      store2(p.clipped, get(at), f64x2.min(get(limit), f64x2.max(get(negLimit), get(h)))),
    );
  };
  const loops = (recurrent: boolean): Code =>
    forLoop(
      b,
      get(p.batch),
      1,
      forLoop(
        u,
        get(p.units),
        2,
        set(row, i32.add(i32.mul(get(b), i32.mul(i32.const(gates), get(p.units))), get(u))),
        set(at, i32.add(i32.mul(get(b), get(p.units)), get(u))),
        unitPair(recurrent),
      ),
    );
  const body = block(
    set(limit, f64x2.loadSplat(get(p.clip))),
    set(negLimit, f64x2.neg(get(limit))),
    set(l.ok, v128.i32x4([-1, -1, -1, -1])),
    ifElse(get(p.hasRecurrent), loops(true), loops(false)),
    f32x4.store(get(p.ok), get(l.ok)), // the 128 bits as they are
  );
  return { builder: fn, body };
}

/**
 * lstmCellBackward(batch, units, gates, prevCell, tanhCell, hidden, hiddenStride, dClipped,
 * dOutput, dOutputStride, hasOutput, dHidden, dHiddenStride, hasHidden, dCell, dz, dPrevCell,
 * clip): the JS cell's backward step (`lstmCellBackwardJs`) for `units` even, bit for bit.
 * `gates` and `dz` are [B, 4C], the other arrays [B, C], except the rows of `hidden`, `dOutput`
 * and `dHidden`, `*Stride` floats apart; `dOutput` and `dHidden` are read only when their flag
 * is not 0 (as a JS null, they add +0). `dPrevCell` may be `dCell`: each pair of units reads
 * dc before it writes. `clip` is the byte address of a float64.
 */
function lstmCellBackwardKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('lstmCellBackward', ['batch', 'units', 'gates', 'prevCell', 'tanhCell', 'hidden', 'hiddenStride', 'dClipped', 'dOutput', 'dOutputStride', 'hasOutput', 'dHidden', 'dHiddenStride', 'hasHidden', 'dCell', 'dz', 'dPrevCell', 'clip']);
  const p = fn.params;
  const { b, u, row, at } = fn.locals(I32, 'b', 'u', 'row', 'at');
  // prettier-ignore
  const { h, gi, gf, gg, go, tc, dh, dc, limit, negLimit } = fn.locals(V128, 'h', 'gi', 'gf', 'gg', 'go', 'tc', 'dh', 'dc', 'limit', 'negLimit');
  const one = (): Code => f64x2.const(1);
  const gateIndex = (q: number): Code => i32.add(get(row), i32.mul(i32.const(q), get(p.units)));
  const rowIndex = (stride: Local): Code => i32.add(i32.mul(get(b), get(stride)), get(u));
  /** a <= b in each lane (false where either is NaN, as in JS) */
  const atMost = (a: Code, bound: Local): Code =>
    v128.or(f64x2.lt(a, get(bound)), f64x2.eq(a, get(bound)));
  const unitPair = (output: boolean, hidden: boolean): Code =>
    block(
      set(h, load2(p.hidden, rowIndex(p.hiddenStride))),
      // dh = (|h| <= clip ? dL/dclip(h) (+ dOutput) : 0) + dHidden
      set(
        dh,
        f64x2.add(
          v128.and(
            f64x2.add(
              load2(p.dClipped, get(at)),
              output ? load2(p.dOutput, rowIndex(p.dOutputStride)) : f64x2.const(0),
            ),
            v128.and(atMost(get(negLimit), h), atMost(get(h), limit)),
          ),
          hidden ? load2(p.dHidden, rowIndex(p.dHiddenStride)) : f64x2.const(0),
        ),
      ),
      set(gi, load2(p.gates, gateIndex(0))),
      set(gf, load2(p.gates, gateIndex(1))),
      set(gg, load2(p.gates, gateIndex(2))),
      set(go, load2(p.gates, gateIndex(3))),
      set(tc, load2(p.tanhCell, get(at))),
      // dc = dCell + dh o (1 - tanh(c)^2)
      set(
        dc,
        f64x2.add(
          load2(p.dCell, get(at)),
          f64x2.mul(f64x2.mul(get(dh), get(go)), f64x2.sub(one(), f64x2.mul(get(tc), get(tc)))),
        ),
      ),
      store2(
        p.dz,
        gateIndex(0),
        f64x2.mul(f64x2.mul(f64x2.mul(get(dc), get(gg)), get(gi)), f64x2.sub(one(), get(gi))),
      ),
      store2(
        p.dz,
        gateIndex(1),
        f64x2.mul(
          f64x2.mul(f64x2.mul(get(dc), load2(p.prevCell, get(at))), get(gf)),
          f64x2.sub(one(), get(gf)),
        ),
      ),
      store2(
        p.dz,
        gateIndex(2),
        f64x2.mul(f64x2.mul(get(dc), get(gi)), f64x2.sub(one(), f64x2.mul(get(gg), get(gg)))),
      ),
      store2(
        p.dz,
        gateIndex(3),
        f64x2.mul(f64x2.mul(f64x2.mul(get(dh), get(tc)), get(go)), f64x2.sub(one(), get(go))),
      ),
      store2(p.dPrevCell, get(at), f64x2.mul(get(dc), get(gf))),
    );
  const loops = (output: boolean, hidden: boolean): Code =>
    forLoop(
      b,
      get(p.batch),
      1,
      forLoop(
        u,
        get(p.units),
        2,
        set(row, i32.add(i32.mul(get(b), i32.mul(i32.const(4), get(p.units))), get(u))),
        set(at, i32.add(i32.mul(get(b), get(p.units)), get(u))),
        unitPair(output, hidden),
      ),
    );
  const body = block(
    set(limit, f64x2.loadSplat(get(p.clip))),
    set(negLimit, f64x2.neg(get(limit))),
    ifElse(
      get(p.hasOutput),
      ifElse(get(p.hasHidden), loops(true, true), loops(true, false)),
      ifElse(get(p.hasHidden), loops(false, true), loops(false, false)),
    ),
  );
  return { builder: fn, body };
}

/**
 * The cell's kernels on `runtime` (module `mann.lstm-cell`); undefined where they do not
 * validate.
 */
export function lstmCellExports(
  runtime: SimdRuntime,
): Readonly<Record<'lstmCellForward' | 'lstmCellBackward', Kernel>> | undefined {
  return runtime.kernels<'lstmCellForward' | 'lstmCellBackward'>('mann.lstm-cell', () => [
    lstmCellForwardKernel(),
    lstmCellBackwardKernel(),
  ]);
}
