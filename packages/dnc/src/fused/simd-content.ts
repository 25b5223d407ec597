import { CONTENT_EPSILON } from '@mann/core';
import {
  at,
  block,
  f32,
  f32x4,
  forLoop,
  FunctionBuilder,
  get,
  I32,
  i32,
  i32x4,
  set,
  v128,
  when,
  V128,
  type Code,
  type Kernel,
  type KernelCode,
  type Local,
  type SimdRuntime,
} from '@mann/core/fused';

// WebAssembly SIMD builders of content addressing's per-slot arithmetic (`content-pass.ts` has
// the plain JS reference, in float64): the cosines, their softmax and its gradient, four slots
// at a time in float32. The row products around them (|M[i]|^2, k . M[i], the mixes and
// updates of the backward pass) are core's row kernels, called on the same memory by
// `content-pass.ts`. The exponential is a float32 one (Cody-Waite range reduction and a
// degree-6 polynomial, the form of Cephes' expf, within 2 ulp on [-87, 0]); below -87.3 it
// gives 0 where the exact value is below 1.2e-38.

const eps = CONTENT_EPSILON;
const LOG2E = 1.4426950408889634;
/** ln 2 in two parts: the first has few bits, so n ln2_hi is exact for |n| < 2^9. */
const LN2_HI = 0.693359375;
const LN2_LO = -2.1219444e-4;
/** Below this the result would leave float32's normal range. */
const EXP_LOWEST = -87.33654;
const EXP_POLYNOMIAL = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
  5.0000001201e-1,
];

const splat = (value: number): Code => f32x4.splat(f32.const(value));
const four = (base: Local, i: Local): Code => f32x4.load(at(get(base), get(i)));
const store4 = (base: Local, i: Local, value: Code): Code =>
  f32x4.store(at(get(base), get(i)), value);
/** Float h of the array at `base` in all four lanes. */
const splatAt = (base: Local, h: Local): Code => f32x4.loadSplat(at(get(base), get(h)));
/** The address of slot i of row `row` (a float offset) of the array at `base`. */
const slotAt = (base: Local, row: Local, i: Local): Code => at(at(get(base), get(row)), get(i));
/** The largest of a vector local's four lanes. */
const largest4 = (v: Local): Code =>
  f32.max(
    f32.max(f32x4.lane(get(v), 0), f32x4.lane(get(v), 1)),
    f32.max(f32x4.lane(get(v), 2), f32x4.lane(get(v), 3)),
  );

/**
 * e^x lane-wise for x <= 0 (x in `x`, which it overwrites; `k`, `r`, `below` are scratch): x = k ln 2
 * + r with k = round(x log2 e), e^r by its polynomial, times 2^k built in the exponent bits.
 */
export function exp4(x: Local, k: Local, r: Local, below: Local): Code {
  let poly: Code = splat(EXP_POLYNOMIAL[0] as number);
  for (const c of EXP_POLYNOMIAL.slice(1)) poly = f32x4.add(f32x4.mul(poly, get(r)), splat(c));
  return block(
    set(below, f32x4.lt(get(x), splat(EXP_LOWEST))),
    set(x, f32x4.max(get(x), splat(EXP_LOWEST))),
    set(k, f32x4.nearest(f32x4.mul(get(x), splat(LOG2E)))),
    set(
      r,
      f32x4.sub(
        f32x4.sub(get(x), f32x4.mul(get(k), splat(LN2_HI))),
        f32x4.mul(get(k), splat(LN2_LO)),
      ),
    ),
    // 1 + r + r^2 P(r), then times 2^k: (k + 127) << 23 are the bits of the float 2^k
    set(r, f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(poly, get(r)), get(r)), get(r)), splat(1))),
    set(
      k,
      f32x4.mul(
        get(r),
        i32x4.shl(i32x4.add(i32x4.fromFloat(get(k)), i32x4.splat(i32.const(127))), 23),
      ),
    ),
    set(x, v128.andNot(get(k), get(below))),
  );
}

/**
 * `contentSoftmax(n, heads, rowSquares, rowStride, keyNorms, betas, cosine, rowNorms, weights)`:
 * per head h and slot i, |M[i]| = sqrt(rowSquares[h rowStride + i] + eps) into rowNorms[h, i]
 * (rowStride 0: one row of squares for every head), cosine[h, i] /= |k_h| |M[i]| + eps in
 * place, and weights[h] = softmax(beta_h cosine[h]). All [H, N] but keyNorms and betas, [H].
 */
function softmaxKernel(): KernelCode {
  const fn = new FunctionBuilder('contentSoftmax', [
    'n',
    'heads',
    'rowSquares',
    'rowStride',
    'keyNorms',
    'betas',
    'cosine',
    'rowNorms',
    'weights',
  ]);
  const p = fn.params;
  const { h, i, row, squares } = fn.locals(I32, 'h', 'i', 'row', 'squares');
  const v = fn.locals(V128, 'kn', 'b', 'most', 'sum', 'rn', 'c', 'x', 'k', 'r', 'below');
  const body = forLoop(
    h,
    get(p.heads),
    1,
    set(v.kn, splatAt(p.keyNorms, h)),
    set(v.b, splatAt(p.betas, h)),
    set(row, i32.mul(get(h), get(p.n))),
    set(squares, i32.add(get(p.rowSquares), i32.shl(i32.mul(get(h), get(p.rowStride)), 2))),
    set(v.most, splat(-Infinity)),
    forLoop(
      i,
      get(p.n),
      4,
      set(v.rn, f32x4.sqrt(f32x4.add(four(squares, i), splat(eps)))),
      set(
        v.c,
        f32x4.div(
          f32x4.load(slotAt(p.cosine, row, i)),
          f32x4.add(f32x4.mul(get(v.kn), get(v.rn)), splat(eps)),
        ),
      ),
      f32x4.store(slotAt(p.cosine, row, i), get(v.c)),
      f32x4.store(slotAt(p.rowNorms, row, i), get(v.rn)),
      set(v.most, f32x4.max(get(v.most), f32x4.mul(get(v.b), get(v.c)))),
    ),
    set(v.most, f32x4.splat(largest4(v.most))),
    set(v.sum, splat(0)),
    forLoop(
      i,
      get(p.n),
      4,
      set(v.x, f32x4.sub(f32x4.mul(get(v.b), f32x4.load(slotAt(p.cosine, row, i))), get(v.most))),
      exp4(v.x, v.k, v.r, v.below),
      f32x4.store(slotAt(p.weights, row, i), get(v.x)),
      set(v.sum, f32x4.add(get(v.sum), get(v.x))),
    ),
    set(v.sum, f32x4.splat(f32x4.sum(v.sum))),
    forLoop(
      i,
      get(p.n),
      4,
      f32x4.store(
        slotAt(p.weights, row, i),
        f32x4.div(f32x4.load(slotAt(p.weights, row, i)), get(v.sum)),
      ),
    ),
  );
  return { builder: fn, body };
}

/**
 * `contentGradient(n, heads, weights, dWeights, cosine, rowNorms, keyNorms, betas, dDot,
 * dRowSquares, rowScale, scalars)`: given dL/dC, per head h and slot i dL/d(k_h . M[i]) into
 * dDot and dL/d|M[i]|^2 into dRowSquares ([H, N], written), 2 sum_h dRowSquares[h, i] added to
 * rowScale [N] when `scaled` is not 0, and dL/dbeta_h, dL/d|k_h| into scalars [2 H] (written).
 */
function gradientKernel(): KernelCode {
  const fn = new FunctionBuilder('contentGradient', [
    'n',
    'heads',
    'weights',
    'dWeights',
    'cosine',
    'rowNorms',
    'keyNorms',
    'betas',
    'dDot',
    'dRowSquares',
    'rowScale',
    'scaled',
    'scalars',
  ]);
  const p = fn.params;
  const { h, i, row, slot } = fn.locals(I32, 'h', 'i', 'row', 'slot');
  const v = fn.locals(
    V128,
    'kn',
    'b',
    'dw',
    'acc',
    'dBeta',
    'dNorm',
    'dz',
    'c',
    'rn',
    'dCos',
    'den',
    'dDen',
    'dRs',
  );
  const at2 = (base: Local): Code => slotAt(base, row, i);
  const body = forLoop(
    h,
    get(p.heads),
    1,
    set(v.kn, splatAt(p.keyNorms, h)),
    set(v.b, splatAt(p.betas, h)),
    set(row, i32.mul(get(h), get(p.n))),
    set(v.acc, splat(0)),
    forLoop(
      i,
      get(p.n),
      4,
      set(
        v.acc,
        f32x4.add(get(v.acc), f32x4.mul(f32x4.load(at2(p.dWeights)), f32x4.load(at2(p.weights)))),
      ),
    ),
    set(v.dw, f32x4.splat(f32x4.sum(v.acc))),
    set(v.dBeta, splat(0)),
    set(v.dNorm, splat(0)),
    forLoop(
      i,
      get(p.n),
      4,
      // softmax, then cos = dot / D with D = |k| |M[i]| + eps
      set(
        v.dz,
        f32x4.mul(f32x4.load(at2(p.weights)), f32x4.sub(f32x4.load(at2(p.dWeights)), get(v.dw))),
      ),
      set(v.c, f32x4.load(at2(p.cosine))),
      set(v.dBeta, f32x4.add(get(v.dBeta), f32x4.mul(get(v.dz), get(v.c)))),
      set(v.dCos, f32x4.mul(get(v.dz), get(v.b))),
      set(v.rn, f32x4.load(at2(p.rowNorms))),
      set(v.den, f32x4.add(f32x4.mul(get(v.kn), get(v.rn)), splat(eps))),
      set(v.dDen, f32x4.div(f32x4.mul(f32x4.neg(get(v.dCos)), get(v.c)), get(v.den))),
      f32x4.store(at2(p.dDot), f32x4.div(get(v.dCos), get(v.den))),
      set(v.dNorm, f32x4.add(get(v.dNorm), f32x4.mul(get(v.dDen), get(v.rn)))),
      set(v.dRs, f32x4.div(f32x4.mul(get(v.dDen), get(v.kn)), f32x4.mul(splat(2), get(v.rn)))),
      f32x4.store(at2(p.dRowSquares), get(v.dRs)),
    ),
    f32.store(at(get(p.scalars), get(h)), f32x4.sum(v.dBeta)),
    f32.store(at(get(p.scalars), i32.add(get(h), get(p.heads))), f32x4.sum(v.dNorm)),
  );
  // rowScale[i] += 2 sum_h dRowSquares[h, i]
  const scale = forLoop(
    i,
    get(p.n),
    4,
    set(v.acc, four(p.rowScale, i)),
    forLoop(
      h,
      get(p.heads),
      1,
      set(slot, i32.add(i32.mul(get(h), get(p.n)), get(i))),
      set(
        v.acc,
        f32x4.add(get(v.acc), f32x4.mul(splat(2), f32x4.load(at(get(p.dRowSquares), get(slot))))),
      ),
    ),
    store4(p.rowScale, i, get(v.acc)),
  );
  return {
    builder: fn,
    body: block(body, when(get(p.scaled), scale)),
  };
}

const build = (): KernelCode[] => [softmaxKernel(), gradientKernel()];

/** The content kernels on `runtime` (module `dnc.content`, built on first use). */
export function contentKernelExports(
  runtime: SimdRuntime,
): Readonly<Record<'contentSoftmax' | 'contentGradient', Kernel>> {
  const kernels = runtime.kernels<'contentSoftmax' | 'contentGradient'>('dnc.content', build);
  if (!kernels) throw new Error('the content addressing kernels do not validate');
  return kernels;
}
