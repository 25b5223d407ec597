// The kernel layer of @mann/core/fused: the assembler's loop contract, SIMD availability, and
// every SIMD kernel against its plain-JS twin (the JS twins are loops written here or the
// layer's own `jsRowKernels`, themselves checked against hand-computed cases), and the LSTM
// cell against a slow loop and finite differences.
import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import {
  at,
  block,
  createProducts,
  expLocals,
  expOf,
  f32,
  f32x4,
  forLoop,
  forRange,
  FunctionBuilder,
  get,
  I32,
  i32,
  jsRowKernels,
  lstmCellBackward,
  lstmCellBackwardJs,
  lstmCellForward,
  lstmCellForwardJs,
  PooledArrays,
  rowKernelExports,
  rowKernelsFor,
  rowKernelsOn,
  eraseAndWriteBackward,
  eraseAndWriteForward,
  scratch,
  simdAvailable,
  SIMD_EXP_LIMIT,
  SimdRuntime,
  set,
  v128,
  type Code,
  type KernelCode,
  type EraseWrite,
  type Local,
  type RowKernels,
  type LstmCellShape,
} from '@mann/core/fused';
import { addBias, columnSums, columnSumsJs, transposed } from '../src/fused/products.js';
import { expectBitwiseEqual, expectClose, uniformArray } from './helpers.js';

const rng = new Rng(7);

describe('the WebAssembly SIMD runtime', () => {
  it('is available on this engine (Node 20 runs WebAssembly SIMD)', () => {
    expect(simdAvailable()).toBe(true);
    expect(SimdRuntime.create()).toBeDefined();
  });

  it('cleared: a view of its memory is zeroed in place, any other array gets fresh zeros', () => {
    const runtime = SimdRuntime.create() as SimdRuntime;
    runtime.ensure(64);
    const here = runtime.view(8, false);
    here.fill(3);
    const call = runtime.begin();
    expect(call.cleared(here.subarray(0, 6), 6)).toBe(here.byteOffset);
    expect(Array.from(here)).toEqual([0, 0, 0, 0, 0, 0, 3, 3]); // only the size asked for
    const elsewhere = new Float32Array(6).fill(5);
    const staged = call.cleared(elsewhere, 6);
    expect(staged).not.toBe(here.byteOffset);
    expect(Array.from(runtime.heap.subarray(staged / 4, staged / 4 + 6))).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
    expect(Array.from(elsewhere)).toEqual([5, 5, 5, 5, 5, 5]); // untouched until read back
    runtime.heap[staged / 4] = 7;
    call.read(staged, 6, elsewhere);
    expect(Array.from(elsewhere)).toEqual([7, 0, 0, 0, 0, 0]);
  });
});

describe('forLoop / forRange', () => {
  /** count(from, to, out): out[0] = number of iterations of forRange(from, to, step 1). */
  function loopCounter(): (from: number, to: number) => number {
    const runtime = SimdRuntime.create() as SimdRuntime;
    const kernels = runtime.kernels<'count' | 'countFromZero'>('test.loops', () => {
      const count = new FunctionBuilder('count', ['from', 'to', 'out']);
      const { i } = count.locals(I32, 'i');
      const add = (out: Local): Code =>
        f32.store(at(get(out), i32.const(0)), f32.add(f32.load(get(out)), f32.const(1)));
      const fromZero = new FunctionBuilder('countFromZero', ['to', 'out']);
      const { j } = fromZero.locals(I32, 'j');
      return [
        {
          builder: count,
          body: forRange(i, get(count.params.from), get(count.params.to), 1, add(count.params.out)),
        },
        {
          builder: fromZero,
          body: forLoop(j, get(fromZero.params.to), 1, add(fromZero.params.out)),
        },
      ];
    });
    if (!kernels) throw new Error('test module did not validate');
    return (from, to) => {
      const call = runtime.begin();
      const out = call.zeros(4);
      const result = new Float32Array(1);
      if (from === 0) kernels.countFromZero(to, out);
      else kernels.count(from, to, out);
      call.read(out, 1, result);
      return result[0] as number;
    };
  }

  it('runs the body once per iteration and never for an empty range', () => {
    const count = loopCounter();
    expect(count(0, 0)).toBe(0); // the drift the two old assemblers had: 0 here, 1 in one of them
    expect(count(0, 1)).toBe(1);
    expect(count(0, 5)).toBe(5);
    expect(count(3, 3)).toBe(0);
    expect(count(4, 2)).toBe(0);
    expect(count(2, 7)).toBe(5);
    expect(count(-2, 1)).toBe(3);
  });
});

describe('row kernels', () => {
  const simd = rowKernelsFor(8);

  it('are SIMD for widths that are multiples of 4, JS otherwise', () => {
    expect(simd.kind).toBe('simd');
    expect(rowKernelsFor(6).kind).toBe('js');
  });

  it('JS twins match hand-computed products', () => {
    // M = [[1, 2], [3, 4]], vec = [1, -1]
    const m = new Float32Array([1, 2, 3, 4]);
    const dots = new Float32Array(2);
    jsRowKernels.dots(2, 2, m, new Float32Array([1, -1]), 1, dots);
    expect([...dots]).toEqual([-1, -1]);
    const squares = new Float32Array(2);
    jsRowKernels.squares(2, 2, m, squares);
    expect([...squares]).toEqual([5, 25]);
    const mix = new Float32Array([10, 10]);
    jsRowKernels.mix(2, 2, m, new Float32Array([1, 2]), 1, mix);
    expect([...mix]).toEqual([17, 20]);
    const dm = new Float32Array(4);
    jsRowKernels.update(2, 2, dm, m, new Float32Array([1, 2]), new Float32Array([1, 1]), 1, [
      0, 1,
    ] as unknown as Float32Array);
    expect([...dm]).toEqual([1, 1, 5, 6]);
    // M^2 = [[1, 4], [9, 16]]
    const squareDots = new Float32Array(2);
    jsRowKernels.squareDots(2, 2, m, new Float32Array([1, -1]), 1, squareDots);
    expect([...squareDots]).toEqual([-3, -7]);
    const squareMix = new Float32Array([10, 10]);
    jsRowKernels.squareMix(2, 2, m, new Float32Array([1, 2]), 1, squareMix);
    expect([...squareMix]).toEqual([29, 46]);
    // dM[i] += M[i] * (coeffs[0, i] [1, -1] + coeffs[1, i] [2, 0]), coeffs = [[1, 2], [1, 0]]
    const product = new Float32Array([1, 1, 1, 1]);
    jsRowKernels.productUpdate(
      2,
      2,
      product,
      m,
      new Float32Array([1, 2, 1, 0]),
      new Float32Array([1, -1, 2, 0]),
      2,
    );
    expect([...product]).toEqual([4, -1, 7, -7]);
  });

  const [n, w, v] = [13, 8, 3];
  const m = uniformArray(rng, n * w);
  const vecs = uniformArray(rng, v * w);
  const coeffs = uniformArray(rng, v * n);
  const scale = uniformArray(rng, n);

  it('dots and squares: SIMD equals JS', () => {
    const [a, b] = [new Float32Array(v * n), new Float32Array(v * n)];
    simd.dots(n, w, m, vecs, v, a);
    jsRowKernels.dots(n, w, m, vecs, v, b);
    expectClose(a, b, 1e-5, 'dots');
    const [c, d] = [new Float32Array(n), new Float32Array(n)];
    simd.squares(n, w, m, c);
    jsRowKernels.squares(n, w, m, d);
    expectClose(c, d, 1e-5, 'squares');
    const [e, f] = [new Float32Array(v * n), new Float32Array(v * n)];
    simd.squareDots(n, w, m, vecs, v, e);
    jsRowKernels.squareDots(n, w, m, vecs, v, f);
    expectClose(e, f, 1e-5, 'squareDots');
  });

  it('mix, squareMix, update and productUpdate add to their output: SIMD equals JS', () => {
    const start = uniformArray(rng, v * w);
    const [a, b] = [start.slice(), start.slice()];
    simd.mix(n, w, m, coeffs, v, a);
    jsRowKernels.mix(n, w, m, coeffs, v, b);
    expectClose(a, b, 1e-5, 'mix');
    const [e, f] = [start.slice(), start.slice()];
    simd.squareMix(n, w, m, coeffs, v, e);
    jsRowKernels.squareMix(n, w, m, coeffs, v, f);
    expectClose(e, f, 1e-5, 'squareMix');
    const first = uniformArray(rng, n * w);
    const [g, h] = [first.slice(), first.slice()];
    simd.productUpdate(n, w, g, m, coeffs, vecs, v);
    jsRowKernels.productUpdate(n, w, h, m, coeffs, vecs, v);
    expectClose(g, h, 1e-5, 'productUpdate');
    for (const s of [null, scale]) {
      const first = uniformArray(rng, n * w);
      const [c, d] = [first.slice(), first.slice()];
      simd.update(n, w, c, m, coeffs, vecs, v, s);
      jsRowKernels.update(n, w, d, m, coeffs, vecs, v, s);
      expectClose(c, d, 1e-5, `update (scale ${s ? 'on' : 'off'})`);
    }
  });

  it('are built per width: 4, 20 and 64 (more vectors than registers), alternating on one object', () => {
    for (const width of [4, 20, 64, 4, 20]) {
      const mw = uniformArray(rng, n * width);
      const vw = uniformArray(rng, v * width);
      const dots = [new Float32Array(v * n), new Float32Array(v * n)] as const;
      simd.dots(n, width, mw, vw, v, dots[0]);
      jsRowKernels.dots(n, width, mw, vw, v, dots[1]);
      expectClose(dots[0], dots[1], 1e-5, `dots, w ${width}`);
      const start = uniformArray(rng, v * width);
      const mix = [start.slice(), start.slice()] as const;
      simd.squareMix(n, width, mw, coeffs, v, mix[0]);
      jsRowKernels.squareMix(n, width, mw, coeffs, v, mix[1]);
      expectClose(mix[0], mix[1], 1e-5, `squareMix, w ${width}`);
      const first = uniformArray(rng, n * width);
      const update = [first.slice(), first.slice()] as const;
      simd.update(n, width, update[0], mw, coeffs, vw, v, scale);
      jsRowKernels.update(n, width, update[1], mw, coeffs, vw, v, scale);
      expectClose(update[0], update[1], 1e-5, `update, w ${width}`);
      const product = [first.slice(), first.slice()] as const;
      simd.productUpdate(n, width, product[0], mw, coeffs, vw, v);
      jsRowKernels.productUpdate(n, width, product[1], mw, coeffs, vw, v);
      expectClose(product[0], product[1], 1e-5, `productUpdate, w ${width}`);
    }
    expect(rowKernelExports(SimdRuntime.create() as SimdRuntime, 6)).toBeUndefined();
  });

  it('erase-and-write forward and backward: SIMD equals a JS loop', () => {
    const runtime = SimdRuntime.create() as SimdRuntime;
    const k = rowKernelExports(runtime, w);
    if (!k) throw new Error('rows module did not validate');
    const prev = uniformArray(rng, n * w);
    const writes = uniformArray(rng, n, 0, 1);
    const erase = uniformArray(rng, w, 0, 1);
    const vector = uniformArray(rng, w);
    const retention = uniformArray(rng, n, 0, 1);
    const dNext = uniformArray(rng, n * w);
    for (const retained of [0, 1]) {
      const psi = (i: number): number => (retained ? (retention[i] as number) : 1);
      const expected = new Float32Array(n * w);
      const ePrev = new Float32Array(n * w);
      const eWrites = new Float32Array(n);
      const eErase = new Float32Array(w);
      const eVector = new Float32Array(w);
      const eRetention = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < w; c++) {
          const [x, we, e, d] = [
            prev[i * w + c],
            writes[i],
            erase[c],
            dNext[i * w + c],
          ] as number[];
          const keep = 1 - (we as number) * (e as number);
          expected[i * w + c] =
            (x as number) * psi(i) * keep + (we as number) * (vector[c] as number);
          ePrev[i * w + c] = (d as number) * psi(i) * keep;
          eWrites[i] =
            (eWrites[i] as number) +
            (d as number) * ((vector[c] as number) - (x as number) * psi(i) * (e as number));
          eErase[c] =
            (eErase[c] as number) + (d as number) * (x as number) * psi(i) * (we as number);
          eVector[c] = (eVector[c] as number) + (d as number) * (we as number);
          eRetention[i] = (eRetention[i] as number) + (d as number) * (x as number) * keep;
        }
      }
      const call = runtime.begin();
      const a = {
        prev: call.input(prev, n * w),
        writes: call.input(writes, n),
        erase: call.input(erase, w),
        vector: call.input(vector, w),
        retention: call.input(retention, n),
        next: call.zeros(n * w),
        dNext: call.input(dNext, n * w),
        dPrev: call.zeros(n * w),
        dWrites: call.zeros(n),
        dErase: call.zeros(w),
        dVector: call.zeros(w),
        dRetention: call.zeros(n),
      };
      // prettier-ignore
      k.eraseWrite(n, w, a.prev, a.next, a.writes, a.erase, a.vector, a.retention, retained);
      // prettier-ignore
      k.eraseWriteBackward(n, w, a.prev, a.writes, a.erase, a.vector, a.retention, retained, a.dNext, a.dPrev, a.dWrites, a.dErase, a.dVector, a.dRetention);
      const read = (address: number, size: number): Float32Array => {
        const out = new Float32Array(size);
        call.read(address, size, out);
        return out;
      };
      expectClose(read(a.next, n * w), expected, 1e-5, 'next');
      expectClose(read(a.dPrev, n * w), ePrev, 1e-5, 'dPrev');
      expectClose(read(a.dWrites, n), eWrites, 1e-5, 'dWrites');
      expectClose(read(a.dErase, w), eErase, 1e-5, 'dErase');
      expectClose(read(a.dVector, w), eVector, 1e-5, 'dVector');
      if (retained) expectClose(read(a.dRetention, n), eRetention, 1e-5, 'dRetention');
      else expect(read(a.dRetention, n).every((x) => x === 0)).toBe(true);
    }
  });

  it('eraseAndWrite: SIMD (arrays copied or views used in place) equals JS, forward and backward', () => {
    const heads = 1;
    const runtime = SimdRuntime.create() as SimdRuntime;
    const onRuntime = rowKernelsOn(runtime) as RowKernels;
    runtime.ensure(4 * n * w + 1024);
    const views = {
      prev: runtime.view(n * w),
      next: runtime.view(n * w),
      dPrev: runtime.view(n * w),
    };
    const prev = uniformArray(rng, n * w);
    const erase = Float64Array.from(uniformArray(rng, 3 + w, 0, 1)); // e from offset 3
    const vectors = uniformArray(rng, 5 + w); // v from offset 5
    const writes = uniformArray(rng, n, 0, 1);
    const dNext = uniformArray(rng, n * w);
    const retention = uniformArray(rng, n, 0, 1);
    for (const psi of [null, retention]) {
      const run = (rows: RowKernels, inPlace: boolean) => {
        const next = inPlace ? views.next : new Float32Array(n * w);
        const dPrev = inPlace ? views.dPrev.fill(0) : new Float32Array(n * w);
        if (inPlace) views.prev.set(prev);
        const inputs: EraseWrite = {
          rows,
          slots: n,
          width: w,
          writeHeads: heads,
          prev: inPlace ? views.prev : prev,
          writes,
          erase,
          eraseAt: 3,
          vectors,
          vectorsAt: 5,
          retention: psi,
        };
        eraseAndWriteForward(inputs, next);
        const grads = {
          dNext,
          dPrev,
          dWrites: new Float32Array(n),
          dErase: new Float64Array(3 + w),
          dVectors: new Float32Array(5 + w),
          dRetention: psi && new Float32Array(n),
        };
        eraseAndWriteBackward(inputs, grads);
        return { next: next.slice(), ...grads, dPrev: dPrev.slice() };
      };
      const expected = run(jsRowKernels, false);
      for (const [name, result] of [
        ['copied', run(rowKernelsFor(w), false)],
        ['in place', run(onRuntime, true)],
      ] as const) {
        for (const [field, values] of Object.entries(expected)) {
          const label = `${name}, ${psi ? 'with' : 'without'} retention: ${field}`;
          if (values === null) expect(result[field as keyof typeof result], label).toBeNull();
          else
            expectClose(result[field as keyof typeof result] as Float32Array, values, 1e-5, label);
        }
      }
    }
  });
});

describe('products', () => {
  const slowProduct = (
    a: (i: number, j: number) => number,
    b: Float32Array,
    [m, k, n]: number[],
  ): Float32Array => {
    const out = new Float32Array((m as number) * (n as number));
    for (let i = 0; i < (m as number); i++)
      for (let c = 0; c < (n as number); c++) {
        let sum = 0;
        for (let j = 0; j < (k as number); j++)
          sum += a(i, j) * (b[j * (n as number) + c] as number);
        out[i * (n as number) + c] = sum;
      }
    return out;
  };

  it('times and transposedTimes equal plain loops, for row counts with and without a tail of 4', () => {
    const products = createProducts();
    for (const [m, k, n] of [
      [8, 5, 6],
      [7, 3, 9],
      [3, 4, 4],
      [1, 2, 3],
      [6, 150, 20], // several spans of j, the last one short; column and row tails
    ] as const) {
      const a = uniformArray(rng, m * k);
      const b = uniformArray(rng, k * n);
      const kept = products.keep(b, k, n);
      const got = products.times(a, m, kept);
      expectClose(
        got,
        slowProduct((i, j) => a[i * k + j] as number, b, [m, k, n]),
        1e-5,
        'times',
      );
      const at = uniformArray(rng, k * m); // [v = k, m]
      const got2 = products.transposedTimes(at, k, m, b, n);
      expectClose(
        got2,
        slowProduct((i, j) => at[j * m + i] as number, b, [m, k, n]),
        1e-5,
        'aT b',
      );
      products.release();
    }
  });

  it('writes a product into a given array: the same values, only the first m n of them', () => {
    const products = createProducts();
    for (const [m, k, n] of [
      [8, 5, 6],
      [3, 4, 4],
      [1, 2, 3],
    ] as const) {
      const a = uniformArray(rng, m * k);
      const b = uniformArray(rng, k * n);
      const at = uniformArray(rng, k * m);
      const kept = products.keep(b, k, n);
      const cases: [string, () => Float32Array, (into: Float32Array) => Float32Array][] = [
        ['times', () => products.times(a, m, kept), (into) => products.times(a, m, kept, into)],
        [
          'transposedTimes',
          () => products.transposedTimes(at, k, m, b, n),
          (into) => products.transposedTimes(at, k, m, b, n, into),
        ],
        ['transposed', () => transposed(a, m, k), (into) => transposed(a, m, k, into)],
      ];
      for (const [label, fresh, given] of cases) {
        const expected = fresh();
        const into = new Float32Array(expected.length + 3).fill(7);
        const got = given(into);
        expect(got.buffer, label).toBe(into.buffer);
        expect(got.length, label).toBe(expected.length);
        expectBitwiseEqual(got, expected, label);
        expect(Array.from(into.subarray(expected.length)), label).toEqual([7, 7, 7]);
        const exact = new Float32Array(expected.length);
        expect(given(exact), label).toBe(exact);
        expect(() => given(new Float32Array(expected.length - 1)), label).toThrow(
          `product output has ${expected.length - 1} values, needs ${expected.length}`,
        );
      }
      products.release();
    }
  });
});

describe('bias additions and column sums', () => {
  /** Values over many binades, so that the float32 roundings differ from case to case. */
  const spread = (count: number): Float32Array =>
    Float32Array.from(
      { length: count },
      () => (rng.uniform() - 0.5) * 2 ** (rng.uniform() * 40 - 20),
    );

  it('times with a bias equals the product, then addBias (a plain loop), bit for bit', () => {
    const products = createProducts();
    for (const [m, k, n] of [
      [16, 20, 400],
      [16, 100, 163], // a tail of 3 columns after the groups of 4
      [5, 3, 1],
      [1, 7, 6],
      [9, 70, 8],
    ] as const) {
      const a = spread(m * k);
      const kept = products.keep(spread(k * n), k, n);
      const bias = spread(n);
      const expected = addBias(products.times(a, m, kept), m, bias);
      expectBitwiseEqual(products.times(a, m, kept, undefined, bias), expected, `${m}x${n}`);
      const into = new Float32Array(m * n + 2).fill(7);
      expectBitwiseEqual(products.times(a, m, kept, into, bias), expected, `${m}x${n} into`);
      expect(Array.from(into.subarray(m * n))).toEqual([7, 7]);
      products.release();
    }
  });

  it('addBias equals a hand-computed case', () => {
    const values = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(addBias(values, 2, Float32Array.from([0.5, -1, 2])))).toEqual([
      1.5, 1, 5, 4.5, 4, 8,
    ]);
  });

  it('columnSums equals a hand-computed case and its JS reference bit for bit (odd and even widths)', () => {
    expect(Array.from(columnSums(Float32Array.from([1, 2, 3, 4, 5, 6]), 3, 2))).toEqual([9, 12]);
    expect(Array.from(columnSums(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3))).toEqual([5, 7, 9]);
    for (const [rows, cols] of [
      [656, 400],
      [656, 163],
      [1, 1],
      [3, 5],
      [41, 8],
      [7, 0],
    ] as const) {
      const values = spread(rows * cols);
      if (values.length > 0) values[0] = -0;
      const label = `${rows}x${cols}`;
      expectBitwiseEqual(columnSums(values, rows, cols), columnSumsJs(values, rows, cols), label);
      // a view into a larger array: the read past its last row must not change anything
      const larger = spread(rows * cols + 4);
      const view = larger.subarray(0, rows * cols);
      expectBitwiseEqual(columnSums(view, rows, cols), columnSumsJs(view, rows, cols), label);
    }
  });
});

/**
 * One forward step of the cell by `step` into new arrays: z from its second row (4C in), the
 * hidden rows C + 2 apart from offset 1.
 */
function cellForward(
  step: typeof lstmCellForward,
  shape: LstmCellShape,
  z: Float32Array,
  recurrent: Float32Array | null,
  prevCell: Float32Array,
) {
  const { batch: B, units: C } = shape;
  const out = {
    gates: new Float32Array(B * 4 * C),
    cell: new Float32Array(B * C),
    tanhCell: new Float32Array(B * C),
    hidden: new Float32Array(B * (C + 2) + 1),
    clipped: new Float32Array(B * C),
  };
  step(shape, {
    z: { values: z, offset: 4 * C },
    recurrent,
    prevCell,
    gates: out.gates,
    cell: out.cell,
    tanhCell: out.tanhCell,
    hidden: { values: out.hidden, offset: 1, stride: C + 2 },
    clipped: out.clipped,
  });
  return out;
}

describe('the LSTM cell', () => {
  const shape: LstmCellShape = { batch: 2, units: 3, clip: 0.6 };
  const { batch: B, units: C } = shape;
  const forward = (z: Float32Array, recurrent: Float32Array | null, prevCell: Float32Array) =>
    cellForward(lstmCellForward, shape, z, recurrent, prevCell);

  // z starts one row (4C) into its array; some outputs go past the clip
  const z = uniformArray(rng, (B + 1) * 4 * C, -2, 2);
  const recurrent = uniformArray(rng, B * 4 * C, -1, 1);
  const prevCell = uniformArray(rng, B * C, -1, 1);

  it('forward equals a slow loop with Math.tanh', () => {
    const out = forward(z, recurrent, prevCell);
    const s = (x: number): number => 1 / (1 + Math.exp(-x));
    for (let b = 0; b < B; b++)
      for (let u = 0; u < C; u++) {
        const pre = (q: number): number =>
          (z[4 * C + b * 4 * C + q * C + u] as number) +
          (recurrent[b * 4 * C + q * C + u] as number);
        const c = s(pre(1)) * (prevCell[b * C + u] as number) + s(pre(0)) * Math.tanh(pre(2));
        const h = s(pre(3)) * Math.tanh(c);
        expect(out.cell[b * C + u]).toBeCloseTo(c, 6);
        expect(out.hidden[1 + b * (C + 2) + u]).toBeCloseTo(h, 6);
        expect(out.clipped[b * C + u]).toBeCloseTo(Math.min(0.6, Math.max(-0.6, h)), 6);
      }
    expect(out.hidden[0]).toBe(0); // outside the rows: untouched
  });

  it('backward equals central finite differences of a weighted sum of the outputs', () => {
    const wClipped = uniformArray(rng, B * C);
    const wOutput = uniformArray(rng, B * C);
    const wHidden = uniformArray(rng, B * C);
    const wCell = uniformArray(rng, B * C);
    const loss = (zz: Float32Array, pc: Float32Array): number => {
      const o = forward(zz, recurrent, pc);
      let sum = 0;
      for (let j = 0; j < B * C; j++) {
        const [b, u] = [Math.floor(j / C), j % C];
        sum += ((wClipped[j] as number) + (wOutput[j] as number)) * (o.clipped[j] as number);
        sum += (wHidden[j] as number) * (o.hidden[1 + b * (C + 2) + u] as number);
        sum += (wCell[j] as number) * (o.cell[j] as number);
      }
      return sum;
    };
    const out = forward(z, recurrent, prevCell);
    const dz = new Float32Array(B * 4 * C);
    const dPrevCell = new Float32Array(B * C);
    const dHidden = new Float32Array(B * (C + 2));
    for (let j = 0; j < B * C; j++)
      dHidden[1 + Math.floor(j / C) * (C + 2) + (j % C)] = wHidden[j] as number;
    lstmCellBackward(shape, {
      gates: out.gates,
      prevCell,
      tanhCell: out.tanhCell,
      hidden: { values: out.hidden, offset: 1, stride: C + 2 },
      dClipped: wClipped,
      dOutput: { values: wOutput, offset: 0, stride: C },
      dHidden: { values: dHidden, offset: 1, stride: C + 2 },
      dCell: wCell,
      dz,
      dPrevCell,
    });
    const eps = 1e-2;
    const numeric = (array: Float32Array, index: number): number => {
      const saved = array[index] as number;
      array[index] = saved + eps;
      const up = loss(z, prevCell);
      array[index] = saved - eps;
      const down = loss(z, prevCell);
      array[index] = saved;
      return (up - down) / (2 * eps);
    };
    for (let k = 0; k < B * 4 * C; k++) {
      expect(dz[k], `dz[${k}]`).toBeCloseTo(numeric(z, 4 * C + k), 2);
    }
    for (let k = 0; k < B * C; k++) {
      expect(dPrevCell[k], `dPrevCell[${k}]`).toBeCloseTo(numeric(prevCell, k), 2);
    }
  });
});

/**
 * exp(n, from, to, ok): `to[i] = exp(from[i])` for n (even) float64s through `expOf`, the SIMD
 * cell's exponential; `ok` (16 bytes) ends up all ones unless an argument was out of its range.
 */
function expKernel(): KernelCode {
  const fn = new FunctionBuilder('exp', ['n', 'from', 'to', 'ok']);
  const { n, from, to, ok } = fn.params;
  const { i } = fn.locals(I32, 'i');
  const l = expLocals(fn);
  const address = (base: Local): Code => i32.add(get(base), i32.shl(get(i), 3));
  const body = block(
    set(l.ok, v128.i32x4([-1, -1, -1, -1])),
    forLoop(i, get(n), 2, f32x4.store(address(to), expOf(f32x4.load(address(from)), l))),
    f32x4.store(get(ok), get(l.ok)),
  );
  return { builder: fn, body };
}

describe('the exponential of the SIMD LSTM cell', () => {
  const runtime = SimdRuntime.create()!;
  const { exp } = runtime.kernels<'exp'>('test.exp', () => [expKernel()])!;

  /** The kernel's exp of `xs` (an even count) and whether it kept every lane in range. */
  function simdExp(xs: readonly number[]): { values: Float64Array; inRange: boolean } {
    const n = xs.length;
    const call = runtime.begin();
    const from = call.zeros(2 * n);
    const to = call.zeros(2 * n);
    const ok = call.zeros(4);
    new Float64Array(runtime.heap.buffer, from, n).set(xs);
    exp(n, from, to, ok);
    const flags = new Int32Array(runtime.heap.buffer, ok, 4);
    return {
      values: new Float64Array(runtime.heap.buffer, to, n).slice(),
      inRange: flags.every((f) => f === -1),
    };
  }

  const high = (word: number): number => {
    const d = new Float64Array(1);
    new Uint32Array(d.buffer)[1] = word;
    return d[0] as number;
  };
  const below = (x: number): number => x * (1 - 2 ** -52);

  it('equals Math.exp bit for bit, at the edges of its argument ranges and at random', () => {
    const xs = [0, -0, 1e-300, -1e-300, 2 ** -28, -(2 ** -28), below(2 ** -28), 2 ** -29];
    // fdlibm's range boundaries (on the high word: 0x3fd62e42, 0x3ff0a2b2), either side
    for (const edge of [high(0x3fd62e43), high(0x3ff0a2b2)]) {
      xs.push(edge, -edge, below(edge), -below(edge));
    }
    xs.push(0.5 * Math.LN2, 1.5 * Math.LN2, Math.LN2, -Math.LN2, 1, -1, 699.99, -699.99);
    const r = new Rng(11);
    for (let k = 0; k < 4000; k++) xs.push((r.uniform() - 0.5) * 1399.99);
    for (let k = 0; k < 4000; k++) xs.push((r.uniform() - 0.5) * 8);
    for (let k = 0; k < 2000; k++) xs.push(Math.fround((r.uniform() - 0.5) * 60) * 2);
    if (xs.length % 2) xs.push(0.25);
    const { values, inRange } = simdExp(xs);
    expect(inRange).toBe(true);
    const mismatches = xs.filter((x, k) => !Object.is(values[k], Math.exp(x)));
    expect(mismatches).toEqual([]);
  });

  it('reports arguments from SIMD_EXP_LIMIT on, and NaN, as out of its range', () => {
    expect(simdExp([1, below(SIMD_EXP_LIMIT)]).inRange).toBe(true);
    for (const x of [SIMD_EXP_LIMIT, -SIMD_EXP_LIMIT, 1e6, Infinity, -Infinity, NaN]) {
      expect(simdExp([0, x]).inRange, String(x)).toBe(false);
    }
  });
});

describe('the SIMD LSTM cell', () => {
  const bitsOf = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer.slice(0)));

  /** Both forward steps (lstmCellForward, which takes SIMD for even C, and the JS one). */
  const both = (
    shape: LstmCellShape,
    z: Float32Array,
    recurrent: Float32Array | null,
    prevCell: Float32Array,
  ) =>
    [lstmCellForward, lstmCellForwardJs].map((step) =>
      cellForward(step, shape, z, recurrent, prevCell),
    );

  it('equals the plain-JS step bit for bit (with and without the recurrent product, clipped or not)', () => {
    const r = new Rng(5);
    for (const [batch, units, clip, scale] of [
      [3, 8, 0.7, 3],
      [2, 100, Infinity, 6],
      [5, 6, 20, 40],
      [1, 2, 0.1, 0.01],
    ] as const) {
      for (const withRecurrent of [true, false]) {
        const shape = { batch, units, clip };
        const z = uniformArray(r, (batch + 1) * 4 * units, -scale, scale);
        // exp's arguments of exactly 1 (V8's exp(1) is Math.E): -z of an input gate, 2 z of g
        z[4 * units] = -1;
        z[4 * units + 2 * units + 1] = 0.5;
        const recurrent = withRecurrent ? uniformArray(r, batch * 4 * units, -scale, scale) : null;
        const prevCell = uniformArray(r, batch * units, -scale, scale);
        const [simd, js] = both(shape, z, recurrent, prevCell);
        for (const key of ['gates', 'cell', 'tanhCell', 'hidden', 'clipped'] as const) {
          expect(bitsOf(simd![key]), `${key}, ${JSON.stringify(shape)}`).toEqual(bitsOf(js![key]));
        }
        expect(simd!.hidden[0]).toBe(0); // outside the rows: untouched
      }
    }
  });

  it('backward equals the plain-JS step bit for bit (strided rows, optional gradients, the clip, dc in place)', () => {
    const r = new Rng(9);
    for (const [batch, units, clip] of [
      [3, 8, 0.7],
      [2, 100, Infinity],
      [5, 6, 0.3],
      [1, 2, 0.1],
    ] as const) {
      const shape = { batch, units, clip };
      const z = uniformArray(r, (batch + 1) * 4 * units, -3, 3);
      const prevCell = uniformArray(r, batch * units, -2, 2);
      const fwd = cellForward(lstmCellForwardJs, shape, z, null, prevCell);
      // h at both bounds of the clip (the gradient passes) and NaN (it does not)
      fwd.hidden[1] = clip;
      fwd.hidden[2] = -clip;
      if (units > 2) fwd.hidden[3] = NaN;
      const hidden = { values: fwd.hidden, offset: 1, stride: units + 2 };
      for (const withOutput of [true, false]) {
        for (const withHidden of [true, false]) {
          for (const inPlace of [true, false]) {
            const dClipped = uniformArray(r, batch * units, -1, 1);
            dClipped[0] = -0; // -0 + 0 is +0 in JS: the kernel adds +0 for a missing gradient
            const dOutput = uniformArray(r, 2 + batch * (units + 3), -1, 1);
            const dHidden = uniformArray(r, 1 + batch * (units + 1), -1, 1);
            const dCell = uniformArray(r, batch * units, -1, 1);
            const run = (step: typeof lstmCellBackward) => {
              const dz = new Float32Array(batch * 4 * units);
              const dc = dCell.slice();
              const dPrevCell = inPlace ? dc : new Float32Array(batch * units);
              step(shape, {
                gates: fwd.gates,
                prevCell,
                tanhCell: fwd.tanhCell,
                hidden,
                dClipped,
                dOutput: withOutput ? { values: dOutput, offset: 2, stride: units + 3 } : null,
                dHidden: withHidden ? { values: dHidden, offset: 1, stride: units + 1 } : null,
                dCell: dc,
                dz,
                dPrevCell,
              });
              return { dz, dPrevCell };
            };
            const [simd, js] = [run(lstmCellBackward), run(lstmCellBackwardJs)];
            const what = JSON.stringify({ ...shape, withOutput, withHidden, inPlace });
            expect(bitsOf(simd.dz), `dz, ${what}`).toEqual(bitsOf(js.dz));
            expect(bitsOf(simd.dPrevCell), `dPrevCell, ${what}`).toEqual(bitsOf(js.dPrevCell));
          }
        }
      }
    }
  });

  it('hands a step with a pre-activation out of the exponential range to the JS step', () => {
    const shape = { batch: 2, units: 4, clip: Infinity };
    const z = uniformArray(new Rng(3), 3 * 16, -1, 1);
    z[16 + 2 * 4 + 1] = 400; // a tanh gate: exp(800) overflows to Infinity, tanh is 1
    const [simd, js] = both(shape, z, null, new Float32Array(8));
    expect(js!.gates[2 * 4 + 1]).toBe(1);
    for (const key of ['gates', 'cell', 'tanhCell', 'hidden', 'clipped'] as const) {
      expect(bitsOf(simd![key]), key).toEqual(bitsOf(js![key]));
    }
  });
});

describe('allocators', () => {
  it('scratch arrays are zeroed on every use; pooled arrays come back after release', () => {
    const a = scratch('test', 4);
    a[0] = 5;
    expect(scratch('test', 4)[0]).toBe(0);
    const pool = new PooledArrays();
    const first = pool.floats(12345);
    pool.release();
    const again = new PooledArrays();
    expect(again.floats(12345)).toBe(first);
    again.release();
  });
});
