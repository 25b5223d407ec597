import {
  at,
  block,
  f32,
  f32x4,
  forLoop,
  forRange,
  FunctionBuilder,
  get,
  I32,
  i32,
  i32x4,
  set,
  v128,
  F32,
  V128,
  type Code,
  type KernelCode,
  type Kernel,
  type Local,
  type SimdRuntime,
} from '@mann/core/fused';

// WebAssembly SIMD builders of the dense link kernels of `link-kernels.ts` (the JS loops there
// are the reference), specialised for R read heads and N slots (N a multiple of 4): the kernels
// are generated at run time, so the loops over the heads are unrolled with each head's values in
// registers, and head k's row of an [R, N] array is a constant byte offset (4 k N) from head
// 0's, an immediate of each load and store. A row of the link is one pass over four slots j at
// a time for everything the forward pass computes from it, and two for the backward pass: ~30 %
// faster than a pass per head (measured on N = 128, R = 4), with the same operations in the
// same order, so the same results bit for bit. The block of four slots that holds the diagonal
// has the diagonal's lane masked to +0 (the diagonal of L_t and of G is 0).

const four = (base: Code, j: Local): Code => f32x4.load(at(base, get(j)));
const zero4 = (): Code => f32x4.splat(f32.const(0));
/** Float i of the array at `base`. */
const scalar = (base: Code, i: Local): Code => f32.load(at(base, get(i)));
/** base[i] += value */
const addScalar = (base: Code, i: Local, value: Code): Code =>
  f32.store(at(base, get(i)), f32.add(f32.load(at(base, get(i))), value));

const range = (count: number): number[] => Array.from({ length: count }, (_, k) => k);

/** Four floats of head k's row of an [R, N] array at slot j. */
const headFour = (base: Local, k: number, n: number, j: Local): Code =>
  f32x4.load(at(get(base), get(j)), 4 * k * n);
const headStore = (base: Local, k: number, n: number, j: Local, value: Code): Code =>
  f32x4.store(at(get(base), get(j)), value, 4 * k * n);
const headScalar = (base: Local, k: number, n: number, i: Local): Code =>
  f32.load(at(get(base), get(i)), 4 * k * n);

/**
 * The loop over slots j of row i, four at a time, in three ranges: before the block holding the
 * diagonal, that block (`body(true)`: lane i of its vectors is masked to +0 with `mask`, as the
 * diagonal of L_t and of G is 0), and after it.
 */
function aroundDiagonal(
  j: Local,
  i: Local,
  block0: Local,
  mask: Local,
  n: number,
  body: (masked: boolean) => Code[],
): Code {
  return block(
    set(block0, i32.and(get(i), i32.const(~3))),
    set(mask, i32x4.ne(v128.i32x4([0, 1, 2, 3]), i32x4.splat(i32.and(get(i), i32.const(3))))),
    forRange(j, i32.const(0), get(block0), 4, ...body(false)),
    set(j, get(block0)),
    ...body(true),
    forRange(j, i32.add(get(block0), i32.const(4)), i32.const(n), 4, ...body(false)),
  );
}

/** One V128 local per head, named `prefix0`, `prefix1`, ... */
const headLocals = (fn: FunctionBuilder, prefix: string, heads: number): Local[] =>
  range(heads).map((k) => fn.locals(V128, `${prefix}${k}`)[`${prefix}${k}`]!);

/**
 * The start of row i: w[i] into `wi`, 1 - w[i] and w[i] in all four lanes, and the byte address
 * of row i of each [N, N] array given (`rows`: local of the array -> local of its row).
 */
const rowStart = (
  i: Local,
  n: number,
  at4: { write: Local; wi: Local; keep: Local; wiv: Local },
  rows: readonly (readonly [Local, Local])[],
): Code[] => [
  set(at4.wi, scalar(get(at4.write), i)),
  set(at4.keep, f32x4.splat(f32.sub(f32.const(1), get(at4.wi)))),
  set(at4.wiv, f32x4.splat(get(at4.wi))),
  ...rows.map(([array, rowOf]) => set(rowOf, at(get(array), i32.mul(get(i), i32.const(n))))),
];

/**
 * L_t[i, j .. j + 3] = (1 - w[i] - w[j]) L_{t-1}[i, j ..] + w[i] p[j ..], with lane i masked to
 * +0 in the block that holds the diagonal.
 */
function linkEntries(
  at4: { keep: Local; wiv: Local; write: Local; rowPrev: Local; precedence: Local; j: Local },
  mask: Local | null,
): Code {
  const { keep, wiv, write, rowPrev, precedence, j } = at4;
  const link = f32x4.add(
    f32x4.mul(f32x4.sub(get(keep), four(get(write), j)), four(get(rowPrev), j)),
    f32x4.mul(get(wiv), four(get(precedence), j)),
  );
  return mask ? v128.and(link, get(mask)) : link;
}

/**
 * linkForward(n, prev, next, write, precedence, reads, forward, backward), R heads and N slots
 * (the `n` argument is not read): `L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p[j]`,
 * `L_t[i, i] = 0`, `f[k, i] = sum_j L_t[i, j] w^r[k, j]`, `b[k, j] += L_t[i, j] w^r[k, i]` (b
 * zeroed first). One pass per row.
 */
export function linkForwardKernel(heads: number, n: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('linkForward', ['n', 'prev', 'next', 'write', 'precedence', 'reads', 'forward', 'backward']);
  const { prev, next, write, precedence, reads, forward, backward } = fn.params;
  const { i, j, rowPrev, rowNext, block0 } = fn.locals(
    I32,
    'i',
    'j',
    'rowPrev',
    'rowNext',
    'block0',
  );
  const { wi } = fn.locals(F32, 'wi');
  const { keep, wiv, l, mask } = fn.locals(V128, 'keep', 'wiv', 'l', 'mask');
  const readAtI = headLocals(fn, 'readAtI', heads);
  const sums = headLocals(fn, 'sum', heads);
  const size = i32.const(n);
  const entries = { keep, wiv, write, rowPrev, precedence, j };
  const body = (masked: boolean): Code[] => {
    return [
      set(l, linkEntries(entries, masked ? mask : null)),
      f32x4.store(at(get(rowNext), get(j)), get(l)),
      ...range(heads).flatMap((k) => [
        set(sums[k]!, f32x4.add(get(sums[k]!), f32x4.mul(get(l), headFour(reads, k, n, j)))),
        headStore(
          backward,
          k,
          n,
          j,
          f32x4.add(headFour(backward, k, n, j), f32x4.mul(get(l), get(readAtI[k]!))),
        ),
      ]),
    ];
  };
  const bodyCode = forLoop(
    i,
    size,
    1,
    ...rowStart(i, n, { write, wi, keep, wiv }, [
      [prev, rowPrev],
      [next, rowNext],
    ]),
    ...range(heads).flatMap((k) => [
      set(readAtI[k]!, f32x4.splat(headScalar(reads, k, n, i))),
      set(sums[k]!, zero4()),
    ]),
    aroundDiagonal(j, i, block0, mask, n, body),
    ...range(heads).map((k) => f32.store(at(get(forward), get(i)), f32x4.sum(sums[k]!), 4 * k * n)),
  );
  return { builder: fn, body: bodyCode };
}

/**
 * linkBackward(n, prev, next, grad, write, precedence, reads, dForward, dBackward, dWrite,
 * dPrecedence, dReads), R heads and N slots (`n` not read): the gradient of
 * {@link linkForwardKernel}. With G = (dL_t + dF^T w^r + (w^r)^T dB) off the diagonal, 0 on it:
 * `grad` becomes dL_{t-1} = (1 - w[i] - w[j]) G, and dw, dp, dw^r are added to (see
 * `link-kernels.ts`). Two passes per row: G's row with dL_{t-1}, dw and dp; then L_t's row, read
 * from `next` (the forward's result: the sequence keeps every L_t, and reading it costs ~10 %
 * less of this kernel than computing it again, in a training step of the default DNC), with
 * dw^r. L_t's diagonal is 0, so this pass needs no mask.
 */
export function linkBackwardKernel(heads: number, n: number): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('linkBackward', ['n', 'prev', 'next', 'grad', 'write', 'precedence', 'reads', 'dForward', 'dBackward', 'dWrite', 'dPrecedence', 'dReads']);
  // prettier-ignore
  const { prev, next, grad, write, precedence, reads, dForward, dBackward, dWrite, dPrecedence, dReads } = fn.params;
  const { i, j, rowPrev, rowNext, rowGrad, block0 } = fn.locals(
    I32,
    'i',
    'j',
    'rowPrev',
    'rowNext',
    'rowGrad',
    'block0',
  );
  const { wi } = fn.locals(F32, 'wi');
  const { keep, wiv, g, lp, l, sum, mask } = fn.locals(
    V128,
    'keep',
    'wiv',
    'g',
    'lp',
    'l',
    'sum',
    'mask',
  );
  const dfi = headLocals(fn, 'dfi', heads);
  const vi = headLocals(fn, 'vi', heads);
  const sums = headLocals(fn, 'sum', heads);
  const size = i32.const(n);
  // G's row: dL_t + dF[k, i] w^r[k, j] + w^r[k, i] dB[k, j], head by head; then dL_{t-1}, dw, dp
  const passG = (masked: boolean): Code[] => [
    set(g, four(get(rowGrad), j)),
    ...range(heads).map((k) =>
      set(
        g,
        f32x4.add(
          get(g),
          f32x4.add(
            f32x4.mul(get(dfi[k]!), headFour(reads, k, n, j)),
            f32x4.mul(get(vi[k]!), headFour(dBackward, k, n, j)),
          ),
        ),
      ),
    ),
    ...(masked ? [set(g, v128.and(get(g), get(mask)))] : []),
    set(lp, four(get(rowPrev), j)),
    f32x4.store(
      at(get(rowGrad), get(j)),
      f32x4.mul(f32x4.sub(get(keep), four(get(write), j)), get(g)),
    ),
    set(sum, f32x4.add(get(sum), f32x4.mul(get(g), f32x4.sub(four(get(precedence), j), get(lp))))),
    f32x4.store(
      at(get(dWrite), get(j)),
      f32x4.sub(four(get(dWrite), j), f32x4.mul(get(g), get(lp))),
    ),
    f32x4.store(
      at(get(dPrecedence), get(j)),
      f32x4.add(four(get(dPrecedence), j), f32x4.mul(get(g), get(wiv))),
    ),
  ];
  // L_t's row (`next`): dw^r[k, j] += dF[k, i] L_t[i, j], dw^r[k, i] += sum_j dB[k, j] L_t[i, j]
  const passReads: Code[] = [
    set(l, four(get(rowNext), j)),
    ...range(heads).flatMap((k) => [
      headStore(
        dReads,
        k,
        n,
        j,
        f32x4.add(headFour(dReads, k, n, j), f32x4.mul(get(dfi[k]!), get(l))),
      ),
      set(sums[k]!, f32x4.add(get(sums[k]!), f32x4.mul(headFour(dBackward, k, n, j), get(l)))),
    ]),
  ];
  const body = forLoop(
    i,
    size,
    1,
    ...rowStart(i, n, { write, wi, keep, wiv }, [
      [prev, rowPrev],
      [next, rowNext],
      [grad, rowGrad],
    ]),
    ...range(heads).flatMap((k) => [
      set(dfi[k]!, f32x4.splat(headScalar(dForward, k, n, i))),
      set(vi[k]!, f32x4.splat(headScalar(reads, k, n, i))),
      set(sums[k]!, zero4()),
    ]),
    set(sum, zero4()),
    aroundDiagonal(j, i, block0, mask, n, passG),
    addScalar(get(dWrite), i, f32x4.sum(sum)),
    forLoop(j, size, 4, ...passReads),
    ...range(heads).map((k) =>
      f32.store(
        at(get(dReads), get(i)),
        f32.add(headScalar(dReads, k, n, i), f32x4.sum(sums[k]!)),
        4 * k * n,
      ),
    ),
  );
  return { builder: fn, body };
}

/** The dense link kernels specialised for `heads` read heads and `n` slots, on `runtime`'s memory. */
export function linkKernelExports(
  runtime: SimdRuntime,
  heads: number,
  n: number,
): Readonly<Record<'linkForward' | 'linkBackward', Kernel>> {
  const kernels = runtime.kernels<'linkForward' | 'linkBackward'>(`dnc.link.${heads}.${n}`, () => [
    linkForwardKernel(heads, n),
    linkBackwardKernel(heads, n),
  ]);
  if (!kernels) {
    throw new Error(`the dense link kernels for ${heads} read heads, ${n} slots, do not validate`);
  }
  return kernels;
}
