import { at, f32, f32x4, forLoop, FunctionBuilder, get, I32, set, V128 } from './wasm.js';
import type { Code, KernelCode, Local } from './wasm.js';
import { simdRuntime, type Kernel } from './simd.js';

// One parameter's Adam or RMSProp update in WebAssembly SIMD, four values at a time, with the
// operations, their order and their float32 rounding of the TF.js ops of `Optimizer`
// (training/optimizers.ts), which are the reference: +, -, *, / and sqrt are correctly rounded
// in both, so the results are the same bit for bit (tested on the cpu and wasm backends). The
// scalars come from memory as float32, as the ops' scalar tensors are. Arrays are padded to a
// multiple of 4 by the runtime; the padding's lanes compute garbage that is never read back.

const four = (base: Local, i: Local): Code => f32x4.load(at(get(base), get(i)));
const splatAt = (scalars: Local, k: number): Code => f32x4.splat(f32.load(get(scalars), 4 * k));

/**
 * adam(size, x, g, m, v, scalars), scalars = [beta1, 1 - beta1, beta2, 1 - beta2, stepSize,
 * epsHat]: `m = m b1 + g (1 - b1)`, `v = v b2 + g^2 (1 - b2)`, `x -= stepSize (m / (sqrt(v) +
 * epsHat))`.
 */
function adamKernel(): KernelCode {
  const fn = new FunctionBuilder('adam', ['size', 'x', 'g', 'm', 'v', 'scalars']);
  const { size, x, g, m, v, scalars } = fn.params;
  const { i } = fn.locals(I32, 'i');
  const { b1, c1, b2, c2, step, eps, gi, mi, vi } = fn.locals(
    V128,
    'b1',
    'c1',
    'b2',
    'c2',
    'step',
    'eps',
    'gi',
    'mi',
    'vi',
  );
  // prettier-ignore
  const body = [
    set(b1, splatAt(scalars, 0)), set(c1, splatAt(scalars, 1)),
    set(b2, splatAt(scalars, 2)), set(c2, splatAt(scalars, 3)),
    set(step, splatAt(scalars, 4)), set(eps, splatAt(scalars, 5)),
    forLoop(i, get(size), 4,
      set(gi, four(g, i)),
      set(mi, f32x4.add(f32x4.mul(four(m, i), get(b1)), f32x4.mul(get(gi), get(c1)))),
      set(vi, f32x4.add(f32x4.mul(four(v, i), get(b2)),
        f32x4.mul(f32x4.mul(get(gi), get(gi)), get(c2)))),
      f32x4.store(at(get(m), get(i)), get(mi)),
      f32x4.store(at(get(v), get(i)), get(vi)),
      f32x4.store(at(get(x), get(i)), f32x4.sub(four(x, i), f32x4.mul(get(step),
        f32x4.div(get(mi), f32x4.add(f32x4.sqrt(get(vi)), get(eps))))))),
  ].flat();
  return { builder: fn, body };
}

/**
 * rmsprop(size, x, g, n, mom, mean, scalars), scalars = [rho, 1 - rho, momentum, lr, eps]:
 * `n = n rho + g^2 (1 - rho)`; centred also `mean = mean rho + g (1 - rho)` and the variance
 * `n - mean^2` (else n); the denominator `sqrt(variance + eps)` (inside the root) or
 * `sqrt(max(variance, 0)) + eps`; `mom = mom momentum + (g lr) / denominator`; `x -= mom`.
 * One kernel per combination of centred and epsilon placement.
 */
function rmspropKernel(centered: boolean, insideRoot: boolean): KernelCode {
  const name = `rmsprop${centered ? 'Centered' : ''}${insideRoot ? 'Inside' : 'Outside'}`;
  const fn = new FunctionBuilder(name, ['size', 'x', 'g', 'n', 'mom', 'mean', 'scalars']);
  const { size, x, g, n, mom, mean, scalars } = fn.params;
  const { i } = fn.locals(I32, 'i');
  const { rho, keep, momentum, lr, eps, gi, ni, meanI, variance, momI } = fn.locals(
    V128,
    'rho',
    'keep',
    'momentum',
    'lr',
    'eps',
    'gi',
    'ni',
    'meanI',
    'variance',
    'momI',
  );
  const denominator = insideRoot
    ? f32x4.sqrt(f32x4.add(get(variance), get(eps)))
    : f32x4.add(f32x4.sqrt(f32x4.max(get(variance), f32x4.splat(f32.const(0)))), get(eps));
  // prettier-ignore
  const body = [
    set(rho, splatAt(scalars, 0)), set(keep, splatAt(scalars, 1)),
    set(momentum, splatAt(scalars, 2)), set(lr, splatAt(scalars, 3)), set(eps, splatAt(scalars, 4)),
    forLoop(i, get(size), 4,
      set(gi, four(g, i)),
      set(ni, f32x4.add(f32x4.mul(four(n, i), get(rho)),
        f32x4.mul(f32x4.mul(get(gi), get(gi)), get(keep)))),
      f32x4.store(at(get(n), get(i)), get(ni)),
      ...(centered
        ? [
            set(meanI, f32x4.add(f32x4.mul(four(mean, i), get(rho)), f32x4.mul(get(gi), get(keep)))),
            f32x4.store(at(get(mean), get(i)), get(meanI)),
            set(variance, f32x4.sub(get(ni), f32x4.mul(get(meanI), get(meanI)))),
          ]
        : [set(variance, get(ni))]),
      set(momI, f32x4.add(f32x4.mul(four(mom, i), get(momentum)),
        f32x4.div(f32x4.mul(get(gi), get(lr)), denominator))),
      f32x4.store(at(get(mom), get(i)), get(momI)),
      f32x4.store(at(get(x), get(i)), f32x4.sub(four(x, i), get(momI)))),
  ].flat();
  return { builder: fn, body };
}

type OptimizerKernelName =
  'adam' | 'rmspropInside' | 'rmspropOutside' | 'rmspropCenteredInside' | 'rmspropCenteredOutside';

function optimizerKernels(): Readonly<Record<OptimizerKernelName, Kernel>> | undefined {
  return simdRuntime()?.kernels<OptimizerKernelName>('mann.optimizers', () => [
    adamKernel(),
    rmspropKernel(false, true),
    rmspropKernel(false, false),
    rmspropKernel(true, true),
    rmspropKernel(true, false),
  ]);
}

/** Whether {@link adamUpdate} and {@link rmspropUpdate} can run here (WebAssembly SIMD). */
export function optimizerKernelsAvailable(): boolean {
  return optimizerKernels() !== undefined;
}

/** The arrays of one parameter's Adam update (not changed: the results are new arrays). */
export interface AdamArrays {
  readonly x: Float32Array;
  readonly g: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

/**
 * Runs an update kernel `kernel(size, x, g, ...slots, scalars)` on copies of its arrays in the
 * shared runtime (a null slot is passed as address 0) and returns the new x and slots (null
 * where the slot was null); the arrays given are not changed. The new slot k goes into
 * `into[k]` where that is given (an array of the slot's size, none of the inputs), else into a
 * new array; the new x always into a new one.
 */
function runUpdate(
  name: OptimizerKernelName,
  x: Float32Array,
  g: Float32Array,
  slots: readonly (Float32Array | null)[],
  scalars: Float32Array,
  into: readonly (Float32Array | undefined)[] = [],
): (Float32Array | null)[] {
  const kernel = optimizerKernels()?.[name];
  const runtime = simdRuntime();
  if (!kernel || !runtime) throw new Error(`${name}: WebAssembly SIMD is unavailable`);
  const size = x.length;
  runtime.begin();
  const updated = [x, ...slots];
  const at = updated.map((array) => (array ? runtime.input(array, size) : 0));
  kernel(
    size,
    at[0]!,
    runtime.input(g, size),
    ...at.slice(1),
    runtime.input(scalars, scalars.length),
  );
  return updated.map((array, i) => {
    if (!array) return null;
    const given = i > 0 ? into[i - 1] : undefined;
    if (given && (given.length !== size || [x, g, ...slots].includes(given))) {
      throw new Error(`${name}: output array for slot ${i - 1} is not a spare of ${size} values`);
    }
    const out = given ?? new Float32Array(size);
    runtime.read(at[i]!, size, out);
    return out;
  });
}

/**
 * One Adam update (see {@link adamKernel}): the new x, m and v; m and v go into `into`'s arrays
 * where given (spares of the parameter's size, not `a`'s).
 */
export function adamUpdate(
  a: AdamArrays,
  s: {
    beta1: number;
    beta2: number;
    stepSize: number;
    epsHat: number;
  },
  into: { readonly m?: Float32Array | undefined; readonly v?: Float32Array | undefined } = {},
): { x: Float32Array; m: Float32Array; v: Float32Array } {
  const scalars = Float32Array.of(s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.stepSize, s.epsHat);
  const [x, m, v] = runUpdate('adam', a.x, a.g, [a.m, a.v], scalars, [
    into.m,
    into.v,
  ]) as Float32Array[];
  return { x: x!, m: m!, v: v! };
}

/** The arrays of one parameter's RMSProp update; `mean` only when centred (not changed). */
export interface RmspropArrays {
  readonly x: Float32Array;
  readonly g: Float32Array;
  readonly n: Float32Array;
  readonly mom: Float32Array;
  readonly mean: Float32Array | null;
}

/**
 * One RMSProp update (see {@link rmspropKernel}): the new x, n, mom and (centred) mean; the slots
 * go into `into`'s arrays where given (as {@link adamUpdate}).
 */
export function rmspropUpdate(
  a: RmspropArrays,
  s: {
    decay: number;
    momentum: number;
    learningRate: number;
    epsilon: number;
    insideRoot: boolean;
  },
  into: {
    readonly n?: Float32Array | undefined;
    readonly mom?: Float32Array | undefined;
    readonly mean?: Float32Array | undefined;
  } = {},
): { x: Float32Array; n: Float32Array; mom: Float32Array; mean: Float32Array | null } {
  const scalars = Float32Array.of(s.decay, 1 - s.decay, s.momentum, s.learningRate, s.epsilon);
  const name =
    `rmsprop${a.mean ? 'Centered' : ''}${s.insideRoot ? 'Inside' : 'Outside'}` as OptimizerKernelName;
  const [x, n, mom, mean] = runUpdate(name, a.x, a.g, [a.n, a.mom, a.mean], scalars, [
    into.n,
    into.mom,
    into.mean,
  ]);
  return { x: x!, n: n!, mom: mom!, mean: mean ?? null };
}
