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
  type Code,
  type Kernel,
  type KernelCode,
  type Local,
  type SimdRuntime,
} from '@mann/core/fused';

// WebAssembly SIMD builders of the read weighting, forward and backward (`weighting-pass.ts`
// has the plain JS reference, in float64), four slots at a time in float32, with the reference's
// order of terms. Read modes per head k: [pi_b (H), pi_c, pi_f (H)], q = 1 + 2H of them.

/** The address of float `offset` + i of the array at `base`. */
const offsetAt = (base: Local, offset: Local, i: Local): Code =>
  at(get(base), i32.add(get(offset), get(i)));

/** The integer locals both kernels loop with: read head, slot, write head and their offsets. */
const loopLocals = (
  fn: FunctionBuilder,
): Record<'k' | 'i' | 'head' | 'pi' | 'row' | 'link' | 'fAt', Local> =>
  fn.locals(I32, 'k', 'i', 'head', 'pi', 'row', 'link', 'fAt');

/**
 * `readWeighting(n, r, h, modes, content, backward, forward, weights)`: w^r[k] = pi_c c^r[k] +
 * sum_h (pi_b[h] b[h, k] + pi_f[h] f[h, k]). modes [R, q], content and weights [R, N], backward
 * and forward [H, R, N].
 */
function forwardKernel(): KernelCode {
  const fn = new FunctionBuilder('readWeighting', [
    'n',
    'r',
    'h',
    'modes',
    'content',
    'backward',
    'forward',
    'weights',
  ]);
  const p = fn.params;
  const { k, i, head, pi, row, link, fAt } = loopLocals(fn);
  const { cm, pb, pf, acc } = fn.locals(V128, 'cm', 'pb', 'pf', 'acc');
  const q = i32.add(i32.shl(get(p.h), 1), i32.const(1));
  const body = forLoop(
    k,
    get(p.r),
    1,
    set(pi, i32.mul(get(k), q)),
    set(row, i32.mul(get(k), get(p.n))),
    set(cm, f32x4.loadSplat(at(get(p.modes), i32.add(get(pi), get(p.h))))),
    forLoop(
      i,
      get(p.n),
      4,
      f32x4.store(
        offsetAt(p.weights, row, i),
        f32x4.mul(get(cm), f32x4.load(offsetAt(p.content, row, i))),
      ),
    ),
    forLoop(
      head,
      get(p.h),
      1,
      set(pb, f32x4.loadSplat(at(get(p.modes), i32.add(get(pi), get(head))))),
      set(fAt, i32.add(i32.add(get(pi), get(head)), i32.add(get(p.h), i32.const(1)))),
      set(pf, f32x4.loadSplat(at(get(p.modes), get(fAt)))),
      set(link, i32.mul(i32.add(i32.mul(get(head), get(p.r)), get(k)), get(p.n))),
      forLoop(
        i,
        get(p.n),
        4,
        set(acc, f32x4.load(offsetAt(p.weights, row, i))),
        set(
          acc,
          f32x4.add(get(acc), f32x4.mul(get(pb), f32x4.load(offsetAt(p.backward, link, i)))),
        ),
        f32x4.store(
          offsetAt(p.weights, row, i),
          f32x4.add(get(acc), f32x4.mul(get(pf), f32x4.load(offsetAt(p.forward, link, i)))),
        ),
      ),
    ),
  );
  return { builder: fn, body };
}

/**
 * `readWeightingBackward(n, r, h, modes, content, backward, forward, dWeights, dContent,
 * dBackward, dForward, dModes)`: dL/dc^r, dL/db, dL/df (written, shaped like c^r, b, f) and
 * dL/dmodes [R, q] (written) from dL/dw^r [R, N].
 */
function backwardKernel(): KernelCode {
  const fn = new FunctionBuilder('readWeightingBackward', [
    'n',
    'r',
    'h',
    'modes',
    'content',
    'backward',
    'forward',
    'dWeights',
    'dContent',
    'dBackward',
    'dForward',
    'dModes',
  ]);
  const p = fn.params;
  const { k, i, head, pi, row, link, fAt } = loopLocals(fn);
  const { cm, pb, pf, d, dcm, dpb, dpf } = fn.locals(
    V128,
    'cm',
    'pb',
    'pf',
    'd',
    'dcm',
    'dpb',
    'dpf',
  );
  const q = i32.add(i32.shl(get(p.h), 1), i32.const(1));
  const rowAt = (base: Local): Code => offsetAt(base, row, i);
  const linkAt = (base: Local): Code => offsetAt(base, link, i);
  const body = forLoop(
    k,
    get(p.r),
    1,
    set(pi, i32.mul(get(k), q)),
    set(row, i32.mul(get(k), get(p.n))),
    set(cm, f32x4.loadSplat(at(get(p.modes), i32.add(get(pi), get(p.h))))),
    set(dcm, f32x4.splat(f32.const(0))),
    forLoop(
      i,
      get(p.n),
      4,
      set(d, f32x4.load(rowAt(p.dWeights))),
      set(dcm, f32x4.add(get(dcm), f32x4.mul(get(d), f32x4.load(rowAt(p.content))))),
      f32x4.store(rowAt(p.dContent), f32x4.mul(get(d), get(cm))),
    ),
    f32.store(at(get(p.dModes), i32.add(get(pi), get(p.h))), f32x4.sum(dcm)),
    forLoop(
      head,
      get(p.h),
      1,
      set(pb, f32x4.loadSplat(at(get(p.modes), i32.add(get(pi), get(head))))),
      set(fAt, i32.add(i32.add(get(pi), get(head)), i32.add(get(p.h), i32.const(1)))),
      set(pf, f32x4.loadSplat(at(get(p.modes), get(fAt)))),
      set(link, i32.mul(i32.add(i32.mul(get(head), get(p.r)), get(k)), get(p.n))),
      set(dpb, f32x4.splat(f32.const(0))),
      set(dpf, f32x4.splat(f32.const(0))),
      forLoop(
        i,
        get(p.n),
        4,
        set(d, f32x4.load(rowAt(p.dWeights))),
        set(dpb, f32x4.add(get(dpb), f32x4.mul(get(d), f32x4.load(linkAt(p.backward))))),
        set(dpf, f32x4.add(get(dpf), f32x4.mul(get(d), f32x4.load(linkAt(p.forward))))),
        f32x4.store(linkAt(p.dBackward), f32x4.mul(get(d), get(pb))),
        f32x4.store(linkAt(p.dForward), f32x4.mul(get(d), get(pf))),
      ),
      f32.store(at(get(p.dModes), i32.add(get(pi), get(head))), f32x4.sum(dpb)),
      f32.store(at(get(p.dModes), get(fAt)), f32x4.sum(dpf)),
    ),
  );
  return { builder: fn, body };
}

const build = (): KernelCode[] => [forwardKernel(), backwardKernel()];

/** The read weighting kernels on `runtime` (module `dnc.weighting`, built on first use). */
export function weightingKernelExports(
  runtime: SimdRuntime,
): Readonly<Record<'readWeighting' | 'readWeightingBackward', Kernel>> {
  const kernels = runtime.kernels<'readWeighting' | 'readWeightingBackward'>(
    'dnc.weighting',
    build,
  );
  if (!kernels) throw new Error('the read weighting kernels do not validate');
  return kernels;
}
