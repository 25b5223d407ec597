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
  type Kernel,
  type KernelCode,
  type Local,
  type SimdRuntime,
} from '@mann/core/fused';

// WebAssembly SIMD builders of the per-slot parts of retention, usage and allocation
// (`allocation-pass.ts` has the plain JS reference, in float64), four slots at a time in
// float32. The free list's sort and the cumulative products along it stay in JS: they are
// sequential.

const one4 = (): Code => f32x4.splat(f32.const(1));
/** The address of slot i of row k of an [K, N] array at `base`. */
const rowSlot = (base: Local, k: Local, n: Local, i: Local): Code =>
  at(get(base), i32.add(i32.mul(get(k), get(n)), get(i)));
const rowFour = (base: Local, k: Local, n: Local, i: Local): Code =>
  f32x4.load(rowSlot(base, k, n, i));
/** The address of vector k (16 bytes each) of the array at `base`. */
const vectorAt = (base: Local, k: Local): Code => at(get(base), i32.shl(get(k), 2));
const four = (base: Local, i: Local): Code => f32x4.load(at(get(base), get(i)));
const store4 = (base: Local, i: Local, value: Code): Code =>
  f32x4.store(at(get(base), get(i)), value);

/**
 * `allocationUsage(n, r, h, prevUsage, prevWrites, prevReads, freeGates, retention, unwritten,
 * usage)`: psi = prod_k (1 - f_k w^r_{t-1}[k]) into retention, q = prod_k (1 - w^w_{t-1}[k])
 * into unwritten and u_t = (1 - (1 - u_{t-1}) q) psi into usage, all [N].
 */
function usageKernel(): KernelCode {
  const fn = new FunctionBuilder('allocationUsage', [
    'n',
    'r',
    'h',
    'prevUsage',
    'prevWrites',
    'prevReads',
    'freeGates',
    'retention',
    'unwritten',
    'usage',
  ]);
  const p = fn.params;
  const { i, k } = fn.locals(I32, 'i', 'k');
  const { psi, q } = fn.locals(V128, 'psi', 'q');
  const body = forLoop(
    i,
    get(p.n),
    4,
    set(psi, one4()),
    forLoop(
      k,
      get(p.r),
      1,
      set(
        psi,
        f32x4.mul(
          get(psi),
          f32x4.sub(
            one4(),
            f32x4.mul(
              f32x4.loadSplat(at(get(p.freeGates), get(k))),
              rowFour(p.prevReads, k, p.n, i),
            ),
          ),
        ),
      ),
    ),
    set(q, one4()),
    forLoop(
      k,
      get(p.h),
      1,
      set(q, f32x4.mul(get(q), f32x4.sub(one4(), rowFour(p.prevWrites, k, p.n, i)))),
    ),
    store4(p.retention, i, get(psi)),
    store4(p.unwritten, i, get(q)),
    store4(
      p.usage,
      i,
      f32x4.mul(
        f32x4.sub(one4(), f32x4.mul(f32x4.sub(one4(), four(p.prevUsage, i)), get(q))),
        get(psi),
      ),
    ),
  );
  return { builder: fn, body };
}

/**
 * `retentionBackward(n, r, dUsage, dHeadUsage, unwritten, retention, prevUsage, dRetention,
 * prevReads, freeGates, factors, dPrevUsage, dPrevReads, dFreeGates)`: with du = dUsage +
 * dHeadUsage, dL/du_{t-1} = du q psi into dPrevUsage, and through dpsi = du (1 - (1 - u) q) +
 * dRetention: dL/dw^r_{t-1}[k] -= dpsi P_k f_k (added to dPrevReads, [R, N]) and dL/df_k -=
 * dpsi P_k w^r_{t-1}[k] (added to dFreeGates, [R, 4]: four lanes per head, summed by the
 * caller), P_k the product of the other heads' factors. `factors` is scratch, [R, 4].
 */
function retentionBackwardKernel(): KernelCode {
  const fn = new FunctionBuilder('retentionBackward', [
    'n',
    'r',
    'dUsage',
    'dHeadUsage',
    'unwritten',
    'retention',
    'prevUsage',
    'dRetention',
    'prevReads',
    'freeGates',
    'factors',
    'dPrevUsage',
    'dPrevReads',
    'dFreeGates',
  ]);
  const p = fn.params;
  const { i, k, l } = fn.locals(I32, 'i', 'k', 'l');
  const { du, q, dPsi, others, scaled } = fn.locals(V128, 'du', 'q', 'dPsi', 'others', 'scaled');
  const body = forLoop(
    i,
    get(p.n),
    4,
    set(du, f32x4.add(four(p.dUsage, i), four(p.dHeadUsage, i))),
    set(q, four(p.unwritten, i)),
    store4(p.dPrevUsage, i, f32x4.mul(f32x4.mul(get(du), get(q)), four(p.retention, i))),
    set(
      dPsi,
      f32x4.add(
        f32x4.mul(
          get(du),
          f32x4.sub(one4(), f32x4.mul(f32x4.sub(one4(), four(p.prevUsage, i)), get(q))),
        ),
        four(p.dRetention, i),
      ),
    ),
    forLoop(
      k,
      get(p.r),
      1,
      f32x4.store(
        vectorAt(p.factors, k),
        f32x4.sub(
          one4(),
          f32x4.mul(f32x4.loadSplat(at(get(p.freeGates), get(k))), rowFour(p.prevReads, k, p.n, i)),
        ),
      ),
    ),
    forLoop(
      k,
      get(p.r),
      1,
      set(others, one4()),
      forLoop(
        l,
        get(p.r),
        1,
        when(
          i32.ne(get(l), get(k)),
          set(others, f32x4.mul(get(others), f32x4.load(vectorAt(p.factors, l)))),
        ),
      ),
      set(scaled, f32x4.mul(get(dPsi), get(others))),
      f32x4.store(
        vectorAt(p.dFreeGates, k),
        f32x4.sub(
          f32x4.load(vectorAt(p.dFreeGates, k)),
          f32x4.mul(get(scaled), rowFour(p.prevReads, k, p.n, i)),
        ),
      ),
      f32x4.store(
        rowSlot(p.dPrevReads, k, p.n, i),
        f32x4.sub(
          rowFour(p.dPrevReads, k, p.n, i),
          f32x4.mul(get(scaled), f32x4.loadSplat(at(get(p.freeGates), get(k)))),
        ),
      ),
    ),
  );
  return { builder: fn, body };
}

const build = (): KernelCode[] => [usageKernel(), retentionBackwardKernel()];

/** The allocation kernels on `runtime` (module `dnc.allocation`, built on first use). */
export function allocationKernelExports(
  runtime: SimdRuntime,
): Readonly<Record<'allocationUsage' | 'retentionBackward', Kernel>> {
  const kernels = runtime.kernels<'allocationUsage' | 'retentionBackward'>('dnc.allocation', build);
  if (!kernels) throw new Error('the allocation kernels do not validate');
  return kernels;
}
