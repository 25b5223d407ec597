import { describe, expect, it } from 'vitest';
import {
  at,
  f32x4,
  forLoop,
  FunctionBuilder,
  get,
  I32,
  jsRowKernels,
  rowKernelsOn,
  set,
  SimdRuntime,
  V128,
} from '@mann/core/fused';
import { exp4 } from '../src/fused/simd-content.js';
import { Carver } from '@mann/core/fused';
import {
  allocateContentTape,
  contentBackward,
  contentForward,
  type ContentAddress,
  type ContentHeads,
} from '../src/fused/content-pass.js';
import {
  allocateAllocationTape,
  allocationBackward,
  allocationForward,
  type AllocationStep,
} from '../src/fused/allocation-pass.js';
import {
  readWeightingBackward,
  readWeightingForward,
  type ReadWeighting,
} from '../src/fused/weighting-pass.js';
import { expectClose, rngFor, uniform, weightings } from './helpers.js';

// The float32 SIMD kernels of content addressing, allocation and the read weighting against
// their float64 JS references, forward and backward, one example at a time: the same record
// run once with a SIMD runtime and once without. Tolerances are float32 rounding relative to
// each array's largest value.

const runtime = SimdRuntime.create();
const simdRows = runtime && rowKernelsOn(runtime);

/** |actual - expected| <= rel * max(1, max |expected|), with the array's name in the message. */
function expectNear(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rel: number,
  label: string,
) {
  let scale = 1;
  for (let i = 0; i < expected.length; i++)
    scale = Math.max(scale, Math.abs(expected[i] as number));
  expectClose(actual, expected, rel * scale, label);
}

describe('SIMD content addressing', () => {
  it('has a float32 exponential within 2 ulp of e^x on [-87, 0], and 0 below -87.34', () => {
    const fn = new FunctionBuilder('exp', ['n', 'values']);
    const { i } = fn.locals(I32, 'i');
    const v = fn.locals(V128, 'x', 'k', 'r', 'below');
    const body = forLoop(
      i,
      get(fn.params.n),
      4,
      set(v.x, f32x4.load(at(get(fn.params.values), get(i)))),
      exp4(v.x, v.k, v.r, v.below),
      f32x4.store(at(get(fn.params.values), get(i)), get(v.x)),
    );
    const { exp } = runtime!.kernels<'exp'>('test.exp', () => [{ builder: fn, body }])!;
    const count = 20000;
    // [-87, 0] evenly, then below -87.34 down to -487, and a few exact points
    const xs = Float32Array.from({ length: count }, (_, j) =>
      j < count - 400 ? (-87 * j) / (count - 401) : -87.34 - j + count - 400,
    );
    xs.set([0, -1e-7, -0.5 * Math.LN2, -Math.LN2], count - 8);
    const call = runtime!.begin();
    const address = call.input(xs, count);
    exp!(count, address);
    const heap = new Float32Array(count);
    call.read(address, count, heap);
    let worst = 0;
    for (let j = 0; j < count; j++) {
      const x = xs[j] as number;
      const got = heap[j] as number;
      if (x < -87.3366) expect(got, `e^${x}`).toBe(0);
      else worst = Math.max(worst, Math.abs(got - Math.exp(x)) / Math.exp(x));
    }
    expect(worst).toBeLessThan(2 * 2 ** -23); // 2 ulp
    expect(heap[count - 8]).toBe(1);
  });

  it('runs on SIMD in Node 20', () => {
    expect(simdRows?.kind).toBe('simd');
  });

  // n, w, heads, masked, strength range (large strengths push most exponents below -87)
  const cases: [number, number, number, boolean, number][] = [
    [4, 4, 1, false, 5],
    [12, 8, 4, false, 20],
    [128, 20, 4, false, 60],
    [8, 4, 2, true, 5],
    [32, 12, 3, true, 200],
  ];
  for (const [n, w, heads, masked, beta] of cases) {
    it(`matches the JS reference: N ${n}, W ${w}, ${heads} heads${masked ? ', masked' : ''}, beta <= ${beta}`, () => {
      const rng = rngFor(n * 100 + w);
      const at: ContentHeads = {
        heads,
        keys: 3,
        strengths: 3 + heads * w,
        masks: masked ? 3 + heads * w + heads : -1,
      };
      const act = uniform(rng, 3 + heads * w + heads + (masked ? heads * w : 0), -1, 1);
      for (let h = 0; h < heads; h++) act[at.strengths + h] = rng.uniformIn(1, beta);
      if (masked) for (let c = 0; c < heads * w; c++) act[at.masks + c] = rng.uniformIn(0, 1);
      const memory = uniform(rng, n * w, -1, 1);
      memory.fill(0, 0, w); // an empty row: its norm is sqrt(eps)
      const dWeights = uniform(rng, heads * n, -1, 1);
      const dMemory0 = uniform(rng, n * w, -1, 1);
      const dAct0 = uniform(rng, act.length, -1, 1);
      const run = (simd: boolean) => {
        const address: ContentAddress = {
          rows: simd ? simdRows! : jsRowKernels,
          slots: n,
          width: w,
          heads: at,
          memory,
          act,
          weights: new Float32Array(heads * n),
          tape: allocateContentTape(heads, n, new Carver(new Float32Array(2 * heads * n + heads))),
        };
        contentForward(address);
        const grads = { dWeights, dMemory: dMemory0.slice(), dAct: dAct0.slice() };
        contentBackward(address, grads);
        return { address, grads };
      };
      const js = run(false);
      const simd = run(true);
      expectNear(simd.address.weights, js.address.weights, 2e-6, 'weights');
      expectNear(simd.address.tape.cosine, js.address.tape.cosine, 2e-6, 'cosine');
      expectNear(simd.address.tape.rowNorms, js.address.tape.rowNorms, 2e-6, 'row norms');
      expectNear(simd.grads.dMemory, js.grads.dMemory, 2e-5, 'dL/dM');
      expectNear(simd.grads.dAct, js.grads.dAct, 2e-5, 'dL/dact');
      // the weights are a distribution, and the gradient reaches every key and strength
      for (let h = 0; h < heads; h++) {
        const row = simd.address.weights.subarray(h * n, (h + 1) * n);
        expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
      }
      expect(simd.grads.dAct.some((v, i) => v !== dAct0[i])).toBe(true);
    });
  }

  it('gives 0, not garbage, where the exponent is far below float32 range', () => {
    const n = 8;
    const w = 4;
    const at: ContentHeads = { heads: 1, keys: 0, strengths: w, masks: -1 };
    // key = e_0; rows: +e_0 once, -e_0 elsewhere: cosines 1 and -1, so beta 500 puts every
    // other slot 1000 below the largest
    const act = Float32Array.from([1, 0, 0, 0, 500]);
    const memory = new Float32Array(n * w);
    for (let i = 0; i < n; i++) memory[i * w] = i === 3 ? 1 : -1;
    const address: ContentAddress = {
      rows: simdRows!,
      slots: n,
      width: w,
      heads: at,
      memory,
      act,
      weights: new Float32Array(n),
      tape: allocateContentTape(1, n, new Carver(new Float32Array(2 * n + 1))),
    };
    contentForward(address);
    expect(Array.from(address.weights)).toEqual([0, 0, 0, 1, 0, 0, 0, 0]);
  });
});

describe('SIMD allocation', () => {
  for (const [n, r, h, dealloc] of [
    [4, 1, 1, false],
    [16, 4, 1, false],
    [128, 4, 1, true],
    [12, 3, 2, true],
  ] as const) {
    it(`matches the JS reference: N ${n}, R ${r}, H ${h}${dealloc ? ', with dL/dpsi' : ''}`, () => {
      const rng = rngFor(7 * n + r);
      const prevUsage = uniform(rng, n, 0, 1);
      const prevWrites = weightings(rng, h, n);
      const prevReads = weightings(rng, r, n);
      const freeGates = uniform(rng, r, 0, 1);
      const gates = uniform(rng, h, 0, 1);
      const dUsage = uniform(rng, n, -1, 1);
      const dAllocation = uniform(rng, h * n, -1, 1);
      const dPrevReads0 = uniform(rng, r * n, -1, 1);
      const dRetention = dealloc ? uniform(rng, n, -1, 1) : null;
      const run = (simd: boolean, freeListHint: Int32Array | null = null) => {
        const step: AllocationStep = {
          runtime: simd ? runtime : undefined,
          slots: n,
          readHeads: r,
          writeHeads: h,
          prevUsage,
          prevWrites,
          prevReads,
          freeGates,
          gates,
          usage: new Float32Array(n),
          allocation: new Float32Array(h * n),
          tape: allocateAllocationTape(
            h,
            n,
            new Carver(new Float32Array(2 * n + 3 * h * n)),
            new Carver(new Int32Array(h * n)),
          ),
          freeListHint,
        };
        allocationForward(step);
        const grads = {
          dUsage,
          dAllocation: dAllocation.slice(),
          dPrevUsage: new Float32Array(n),
          dPrevReads: dPrevReads0.slice(),
          dFreeGates: new Float32Array(r),
          dGates: new Float32Array(h),
          dRetention,
        };
        allocationBackward(step, grads);
        return { step, grads };
      };
      const js = run(false);
      const simd = run(true);
      expectNear(simd.step.usage, js.step.usage, 1e-6, 'usage');
      expectNear(simd.step.tape.retention, js.step.tape.retention, 1e-6, 'retention');
      expectNear(simd.step.allocation, js.step.allocation, 1e-6, 'allocation');
      expect(Array.from(simd.step.tape.order)).toEqual(Array.from(js.step.tape.order));
      for (const key of ['dPrevUsage', 'dPrevReads', 'dFreeGates', 'dGates'] as const)
        expectNear(simd.grads[key], js.grads[key], 1e-5, key);
      expect(js.grads.dFreeGates.every((v) => v !== 0)).toBe(true);
      // A hint of the free lists (the order itself, nearly it, reversed, at random) changes
      // nothing, bit for bit: the sort keys are distinct, so every correct sort agrees.
      const order = js.step.tape.order;
      const nearly = order.slice();
      for (let head = 0; head < h; head++) {
        const at = head * n;
        [nearly[at], nearly[at + n - 1]] = [nearly[at + n - 1]!, nearly[at]!];
      }
      const reversed = order.slice();
      for (let head = 0; head < h; head++) reversed.subarray(head * n, (head + 1) * n).reverse();
      const shuffled = order.slice();
      for (let k = shuffled.length - 1; k > 0; k--) {
        const head = Math.floor(k / n);
        const other = head * n + Math.floor(rng.uniform() * (k - head * n + 1));
        [shuffled[k], shuffled[other]] = [shuffled[other]!, shuffled[k]!];
      }
      for (const [name, hint] of [
        ['the order', order],
        ['nearly the order', nearly],
        ['reversed', reversed],
        ['shuffled', shuffled],
      ] as const) {
        for (const [plain, onSimd] of [
          [js, false],
          [simd, true],
        ] as const) {
          const hinted = run(onSimd, hint);
          expect(Array.from(hinted.step.tape.order), name).toEqual(
            Array.from(plain.step.tape.order),
          );
          expect(Array.from(hinted.step.allocation), name).toEqual(
            Array.from(plain.step.allocation),
          );
          expect(Array.from(hinted.grads.dGates), name).toEqual(Array.from(plain.grads.dGates));
        }
      }
    });
  }
});

describe('SIMD read weighting', () => {
  for (const [n, r, h] of [
    [4, 1, 1],
    [128, 4, 1],
    [12, 3, 2],
  ] as const) {
    it(`matches the JS reference: N ${n}, R ${r}, H ${h}`, () => {
      const rng = rngFor(11 * n + r + h);
      const q = 1 + 2 * h;
      const act = uniform(rng, 2 + r * q, 0, 1);
      const content = weightings(rng, r, n);
      const backward = weightings(rng, h * r, n);
      const forward = weightings(rng, h * r, n);
      const dWeights = uniform(rng, r * n, -1, 1);
      const dAct0 = uniform(rng, act.length, -1, 1);
      const run = (simd: boolean) => {
        const mix: ReadWeighting = {
          runtime: simd ? runtime : undefined,
          slots: n,
          readHeads: r,
          writeHeads: h,
          act,
          modesAt: 2,
          content,
          backward,
          forward,
        };
        const weights = new Float32Array(r * n);
        readWeightingForward(mix, weights);
        const grads = {
          dWeights,
          dContent: new Float32Array(r * n),
          dBackward: new Float32Array(h * r * n),
          dForward: new Float32Array(h * r * n),
          dAct: dAct0.slice(),
        };
        readWeightingBackward(mix, grads);
        return { weights, grads };
      };
      const js = run(false);
      const simd = run(true);
      expectNear(simd.weights, js.weights, 1e-6, 'w^r');
      for (const key of ['dContent', 'dBackward', 'dForward', 'dAct'] as const)
        expectNear(simd.grads[key], js.grads[key], 1e-5, key);
      expect(simd.grads.dAct.slice(0, 2)).toEqual(dAct0.slice(0, 2)); // only the modes change
    });
  }
});
