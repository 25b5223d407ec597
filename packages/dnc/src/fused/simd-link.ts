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
  F32,
  V128,
  type Code,
  type KernelCode,
  type Kernel,
  type Local,
  type SimdRuntime,
} from '@mann/core/fused';

// WebAssembly SIMD builders of the dense link kernels of `link-kernels.ts` (the JS loops there
// are the reference), specialised for R read heads: the kernels are generated at run time, so
// the loops over the heads are unrolled with each head's values in registers, and each row of
// the link is one pass over four slots j at a time (N a multiple of 4). The pass treats the
// diagonal like any entry; scalar code after it removes what the diagonal (0 in L_t) added.

const row = (base: Local, index: Local, n: Local): Code =>
  at(get(base), i32.mul(get(index), get(n)));
const four = (base: Code, j: Local): Code => f32x4.load(at(base, get(j)));
const zero4 = (): Code => f32x4.splat(f32.const(0));
/** Float i of the array at `base`. */
const scalar = (base: Code, i: Local): Code => f32.load(at(base, get(i)));
/** base[i] += value */
const addScalar = (base: Code, i: Local, value: Code): Code =>
  f32.store(at(base, get(i)), f32.add(f32.load(at(base, get(i))), value));

/** Byte address of head k's row of an [R, N] array. */
const head = (base: Local, k: number, n: Local): Code =>
  i32.add(get(base), i32.shl(i32.mul(i32.const(k), get(n)), 2));

const range = (count: number): number[] => Array.from({ length: count }, (_, k) => k);

/**
 * linkForward(n, prev, next, write, precedence, reads, forward, backward), R heads:
 * `L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p[j]`, `L_t[i, i] = 0`,
 * `f[k, i] = sum_j L_t[i, j] w^r[k, j]`, `b[k, j] += L_t[i, j] w^r[k, i]` (b zeroed first).
 * Per row: one pass for L_t's row, then one per head (a single pass over all heads is slower:
 * more arrays streamed at once, and more vector registers than x86 has).
 */
export function linkForwardKernel(heads: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('linkForward', ['n', 'prev', 'next', 'write', 'precedence', 'reads', 'forward', 'backward']);
  const { n, prev, next, write, precedence, reads, forward, backward } = fn.params;
  const { i, j, rowPrev, rowNext } = fn.locals(I32, 'i', 'j', 'rowPrev', 'rowNext');
  const { wi } = fn.locals(F32, 'wi');
  const { keep, wiv, l, readAtI, sum } = fn.locals(V128, 'keep', 'wiv', 'l', 'readAtI', 'sum');
  const body = forLoop(
    i,
    get(n),
    1,
    set(wi, scalar(get(write), i)),
    set(keep, f32x4.splat(f32.sub(f32.const(1), get(wi)))), // 1 - w[i]
    set(wiv, f32x4.splat(get(wi))),
    set(rowPrev, row(prev, i, n)),
    set(rowNext, row(next, i, n)),
    forLoop(
      j,
      get(n),
      4,
      f32x4.store(
        at(get(rowNext), get(j)),
        f32x4.add(
          f32x4.mul(f32x4.sub(get(keep), four(get(write), j)), four(get(rowPrev), j)),
          f32x4.mul(get(wiv), four(get(precedence), j)),
        ),
      ),
    ),
    f32.store(at(get(rowNext), get(i)), f32.const(0)),
    ...range(heads).flatMap((k) => [
      set(readAtI, f32x4.splat(scalar(head(reads, k, n), i))),
      set(sum, zero4()),
      forLoop(
        j,
        get(n),
        4,
        set(l, four(get(rowNext), j)),
        set(sum, f32x4.add(get(sum), f32x4.mul(get(l), four(head(reads, k, n), j)))),
        f32x4.store(
          at(head(backward, k, n), get(j)),
          f32x4.add(four(head(backward, k, n), j), f32x4.mul(get(l), get(readAtI))),
        ),
      ),
      f32.store(at(head(forward, k, n), get(i)), f32x4.sum(sum)),
    ]),
  );
  return { builder: fn, body };
}

/**
 * linkBackward(n, prev, grad, write, precedence, reads, dForward, dBackward, dWrite,
 * dPrecedence, dReads, link), R heads: the gradient of {@link linkForwardKernel}. With
 * G = (dL_t + dF^T w^r + (w^r)^T dB) off the diagonal, 0 on it: `grad` becomes
 * dL_{t-1} = (1 - w[i] - w[j]) G, and dw, dp, dw^r are added to (see `link-kernels.ts`).
 * `link` [N] is scratch for a row of L_t. Per row: L_t's row again, G's row (a pass per head),
 * dL_{t-1}, dw and dp (one pass), dw^r (a pass per head).
 */
export function linkBackwardKernel(heads: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('linkBackward', ['n', 'prev', 'grad', 'write', 'precedence', 'reads', 'dForward', 'dBackward', 'dWrite', 'dPrecedence', 'dReads', 'link']);
  // prettier-ignore
  const { n, prev, grad, write, precedence, reads, dForward, dBackward, dWrite, dPrecedence, dReads, link } = fn.params;
  const { i, j, rowPrev, rowGrad } = fn.locals(I32, 'i', 'j', 'rowPrev', 'rowGrad');
  const { wi } = fn.locals(F32, 'wi');
  // prettier-ignore
  const { keep, wiv, dfi, vi, sum, g, lp, l } = fn.locals(V128, 'keep', 'wiv', 'dfi', 'vi', 'sum', 'g', 'lp', 'l');
  const body = forLoop(
    i,
    get(n),
    1,
    set(wi, scalar(get(write), i)),
    set(keep, f32x4.splat(f32.sub(f32.const(1), get(wi)))),
    set(wiv, f32x4.splat(get(wi))),
    set(rowPrev, row(prev, i, n)),
    set(rowGrad, row(grad, i, n)),
    // row i of L_t again, into `link` (cheaper than keeping every L_t for the backward pass)
    forLoop(
      j,
      get(n),
      4,
      f32x4.store(
        at(get(link), get(j)),
        f32x4.add(
          f32x4.mul(f32x4.sub(get(keep), four(get(write), j)), four(get(rowPrev), j)),
          f32x4.mul(get(wiv), four(get(precedence), j)),
        ),
      ),
    ),
    f32.store(at(get(link), get(i)), f32.const(0)),
    // row i of G in place of dL_t's: G[i, j] += dF[k, i] w^r[k, j] + w^r[k, i] dB[k, j]
    ...range(heads).flatMap((k) => [
      set(dfi, f32x4.splat(scalar(head(dForward, k, n), i))),
      set(vi, f32x4.splat(scalar(head(reads, k, n), i))),
      forLoop(
        j,
        get(n),
        4,
        f32x4.store(
          at(get(rowGrad), get(j)),
          f32x4.add(
            four(get(rowGrad), j),
            f32x4.add(
              f32x4.mul(get(dfi), four(head(reads, k, n), j)),
              f32x4.mul(get(vi), four(head(dBackward, k, n), j)),
            ),
          ),
        ),
      ),
    ]),
    f32.store(at(get(rowGrad), get(i)), f32.const(0)),
    // dL_{t-1}, dw and dp from row i of G
    set(sum, zero4()),
    forLoop(
      j,
      get(n),
      4,
      set(g, four(get(rowGrad), j)),
      set(lp, four(get(rowPrev), j)),
      f32x4.store(
        at(get(rowGrad), get(j)),
        f32x4.mul(f32x4.sub(get(keep), four(get(write), j)), get(g)),
      ),
      set(
        sum,
        f32x4.add(get(sum), f32x4.mul(get(g), f32x4.sub(four(get(precedence), j), get(lp)))),
      ),
      f32x4.store(
        at(get(dWrite), get(j)),
        f32x4.sub(four(get(dWrite), j), f32x4.mul(get(g), get(lp))),
      ),
      f32x4.store(
        at(get(dPrecedence), get(j)),
        f32x4.add(four(get(dPrecedence), j), f32x4.mul(get(g), get(wiv))),
      ),
    ),
    addScalar(get(dWrite), i, f32x4.sum(sum)),
    // dw^r[k, j] += dF[k, i] L_t[i, j];  dw^r[k, i] += sum_j dB[k, j] L_t[i, j]
    ...range(heads).flatMap((k) => [
      set(dfi, f32x4.splat(scalar(head(dForward, k, n), i))),
      set(sum, zero4()),
      forLoop(
        j,
        get(n),
        4,
        set(l, four(get(link), j)),
        f32x4.store(
          at(head(dReads, k, n), get(j)),
          f32x4.add(four(head(dReads, k, n), j), f32x4.mul(get(dfi), get(l))),
        ),
        set(sum, f32x4.add(get(sum), f32x4.mul(four(head(dBackward, k, n), j), get(l)))),
      ),
      addScalar(head(dReads, k, n), i, f32x4.sum(sum)),
    ]),
  );
  return { builder: fn, body };
}

/** The dense link kernels specialised for `heads` read heads, on `runtime`'s memory. */
export function linkKernelExports(
  runtime: SimdRuntime,
  heads: number,
): Readonly<Record<'linkForward' | 'linkBackward', Kernel>> {
  const kernels = runtime.kernels<'linkForward' | 'linkBackward'>(`dnc.link.${heads}`, () => [
    linkForwardKernel(heads),
    linkBackwardKernel(heads),
  ]);
  if (!kernels) throw new Error(`the dense link kernels for ${heads} read heads do not validate`);
  return kernels;
}
