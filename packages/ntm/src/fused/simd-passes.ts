import { CONTENT_EPSILON } from '@mann/core';
import type { MemoryPasses } from './memory-passes.js';
import {
  at,
  block,
  f32,
  f32x4,
  forLoop,
  FunctionBuilder,
  ifElse,
  get,
  I32,
  i32,
  set,
  SimdRuntime,
  V128,
  when,
  type Code,
  type KernelCode,
  type Local,
} from '@mann/core/fused';

// The passes over the memory of `memory-passes.ts` in WebAssembly SIMD, four columns of a row
// at a time (W must be a multiple of 4), for at most one write head. Built at run time by
// `@mann/core/fused`'s assembler; ~7x faster than the JS loops on these machines (an N W pass of the paper's
// configuration: ~130 us in JS, ~18 us here, copies included). Each call copies its arrays into
// the module's memory and its results back; arithmetic is float32 (the JS passes sum in
// float64; both agree with the composed reference to float32 rounding).

const float = (base: Local, index: Code): Code => f32.load(at(get(base), index));
const four = (base: Local, index: Code): Code => f32x4.load(at(get(base), index));
const splat = (base: Local, index: Code): Code => f32x4.splat(float(base, index));
/** a * b + c, i32 */
const mad = (a: Code, b: Code, c: Code): Code => i32.add(i32.mul(a, b), c);
/** x += value, four lanes at the address */
const addTo = (address: Local, value: Code): Code =>
  f32x4.store(get(address), f32x4.add(f32x4.load(get(address)), value));

// The kernel bodies are formatted by hand (prettier would put every argument on its own line):
// one line per statement, nested loops indented. In every kernel b runs over the batch, i over
// the rows (slots) and c over the columns, four at a time.

/**
 * sq[b, i] = sum_c M[b, i, c]^2 and dots[b, h, i] = sum_c key[b, h, c] M[b, i, c].
 */
function contentDotsKernel(): KernelCode {
  const fn = new FunctionBuilder('contentDots', ['B', 'N', 'W', 'H', 'M', 'key', 'sq', 'dots']);
  const { B, N, W, H, M, key, sq, dots } = fn.params;
  const { b, i, c, h, row, k } = fn.locals(I32, 'b', 'i', 'c', 'h', 'row', 'k');
  const { acc, v } = fn.locals(V128, 'acc', 'v');
  // prettier-ignore
  const body = forLoop(b, get(B), 1,
    forLoop(i, get(N), 1,
      set(row, i32.mul(mad(get(b), get(N), get(i)), get(W))),
      set(acc, f32x4.splat(f32.const(0))),
      forLoop(c, get(W), 4,
        set(v, four(M, i32.add(get(row), get(c)))),
        set(acc, f32x4.add(get(acc), f32x4.mul(get(v), get(v))))),
      f32.store(at(get(sq), mad(get(b), get(N), get(i))), f32x4.sum(acc)),
      forLoop(h, get(H), 1,
        set(k, i32.mul(mad(get(b), get(H), get(h)), get(W))),
        set(acc, f32x4.splat(f32.const(0))),
        forLoop(c, get(W), 4,
          set(acc, f32x4.add(get(acc),
            f32x4.mul(four(key, i32.add(get(k), get(c))), four(M, i32.add(get(row), get(c))))))),
        f32.store(at(get(dots), mad(mad(get(b), get(H), get(h)), get(N), get(i))), f32x4.sum(acc)))));
  return { builder: fn, body };
}

/**
 * reads[b, r] += sum_i w[b, r, i] M[b, i] (the caller zeroes reads), and the write of at most
 * one head: next[b, i] = M[b, i] (1 - w[b, R, i] e[b]) + w[b, R, i] a[b] (with none, M[b, i]).
 */
function readWriteKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('readWrite', ['B', 'N', 'W', 'R', 'Hw', 'M', 'weights', 'erase', 'add', 'reads', 'next']);
  const { B, N, W, R, Hw, M, weights, erase, add, reads, next } = fn.params;
  // prettier-ignore
  const { b, i, c, h, row, rd, e, hn, slot } = fn.locals(I32, 'b', 'i', 'c', 'h', 'row', 'rd', 'e', 'hn', 'slot');
  const { wv, v, one } = fn.locals(V128, 'wv', 'v', 'one');
  const column = (base: Local): Code => i32.add(get(base), get(c));
  // prettier-ignore
  const body = block(
    set(one, f32x4.splat(f32.const(1))),
    set(hn, i32.mul(i32.add(get(R), get(Hw)), get(N))), // H N
    forLoop(b, get(B), 1,
      set(e, i32.mul(get(b), get(W))), // e[b] and a[b] (one write head)
      forLoop(i, get(N), 1,
        set(row, i32.mul(mad(get(b), get(N), get(i)), get(W))),
        forLoop(h, get(R), 1,
          set(wv, splat(weights, mad(get(b), get(hn), mad(get(h), get(N), get(i))))),
          set(rd, at(get(reads), i32.mul(mad(get(b), get(R), get(h)), get(W)))),
          forLoop(c, get(W), 4,
            set(slot, at(get(rd), get(c))),
            addTo(slot, f32x4.mul(get(wv), four(M, column(row)))))),
        ifElse(get(Hw),
          block(
            set(wv, splat(weights, mad(get(b), get(hn), mad(get(R), get(N), get(i))))),
            forLoop(c, get(W), 4,
              set(v, four(M, column(row))),
              f32x4.store(at(get(next), column(row)), f32x4.add(
                f32x4.mul(get(v), f32x4.sub(get(one), f32x4.mul(get(wv), four(erase, column(e))))),
                f32x4.mul(get(wv), four(add, column(e))))))),
          forLoop(c, get(W), 4,
            f32x4.store(at(get(next), column(row)), four(M, column(row))))))));
  return { builder: fn, body };
}

/**
 * dW[b, r, i] += sum_c dr[b, r, c] M[b, i, c]; with a write head and `hasNext`,
 * dW[b, R, i] += sum_c dM_t[b, i, c] (a[b, c] - M[b, i, c] e[b, c]).
 */
function weightGradsKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('weightGrads', ['B', 'N', 'W', 'R', 'Hw', 'hasNext', 'M', 'dReads', 'dNext', 'erase', 'add', 'dW']);
  const { B, N, W, R, Hw, hasNext, M, dReads, dNext, erase, add, dW } = fn.params;
  // prettier-ignore
  const { b, i, c, h, row, e, hn, dr, slot } = fn.locals(I32, 'b', 'i', 'c', 'h', 'row', 'e', 'hn', 'dr', 'slot');
  const { acc, v } = fn.locals(V128, 'acc', 'v');
  const column = (base: Local): Code => i32.add(get(base), get(c));
  const addSum = (index: Code): Code =>
    block(
      set(slot, at(get(dW), index)),
      f32.store(get(slot), f32.add(f32.load(get(slot)), f32x4.sum(acc))),
    );
  // prettier-ignore
  const body = block(
    set(hn, i32.mul(i32.add(get(R), get(Hw)), get(N))),
    forLoop(b, get(B), 1,
      set(e, i32.mul(get(b), get(W))),
      forLoop(i, get(N), 1,
        set(row, i32.mul(mad(get(b), get(N), get(i)), get(W))),
        forLoop(h, get(R), 1,
          set(dr, i32.mul(mad(get(b), get(R), get(h)), get(W))),
          set(acc, f32x4.splat(f32.const(0))),
          forLoop(c, get(W), 4,
            set(acc, f32x4.add(get(acc), f32x4.mul(four(dReads, column(dr)), four(M, column(row)))))),
          addSum(mad(get(b), get(hn), mad(get(h), get(N), get(i))))),
        when(get(Hw),
          when(get(hasNext),
            set(acc, f32x4.splat(f32.const(0))),
            forLoop(c, get(W), 4,
              set(v, four(M, column(row))),
              set(acc, f32x4.add(get(acc), f32x4.mul(four(dNext, column(row)),
                f32x4.sub(four(add, column(e)), f32x4.mul(get(v), four(erase, column(e)))))))),
            addSum(mad(get(b), get(hn), mad(get(R), get(N), get(i)))))))));
  return { builder: fn, body };
}

/**
 * dM[b, i] = scale[b, i] M[b, i] + (when `hasNext`) dM_t[b, i] (1 - w[b, R, i] e[b]) (without a
 * write head the factor is 1) + sum_r w[b, r, i] dr[b, r] + sum_h dDot[b, h, i] key[b, h].
 */
function memoryGradsKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('memoryGrads', ['B', 'N', 'W', 'R', 'Hw', 'hasNext', 'M', 'dNext', 'dReads', 'weights', 'erase', 'key', 'dDot', 'scale', 'dM']);
  const { B, N, W, R, Hw, hasNext, M, dNext, dReads, weights, erase, key, dDot, scale, dM } =
    fn.params;
  // prettier-ignore
  const { b, i, c, h, row, e, H, out, vector } = fn.locals(I32, 'b', 'i', 'c', 'h', 'row', 'e', 'H', 'out', 'vector');
  const { s, ww, coefficient, one } = fn.locals(V128, 's', 'ww', 'coefficient', 'one');
  const column = (base: Local): Code => i32.add(get(base), get(c));
  /** per head h of `heads` (from `first`): dM[b, i] += coefficient[b, first + h, i] rows[b, h] */
  const rankOne = (coefficients: Local, rows: Local, heads: Local, first: Code): Code =>
    // prettier-ignore
    forLoop(h, get(heads), 1,
      set(coefficient, splat(coefficients, mad(mad(get(b), get(H), i32.add(first, get(h))), get(N), get(i)))),
      set(vector, i32.mul(mad(get(b), get(heads), get(h)), get(W))),
      forLoop(c, get(W), 4,
        set(out, at(get(dM), column(row))),
        addTo(out, f32x4.mul(get(coefficient), four(rows, column(vector))))));
  // prettier-ignore
  const body = block(
    set(one, f32x4.splat(f32.const(1))),
    set(H, i32.add(get(R), get(Hw))),
    forLoop(b, get(B), 1,
      set(e, i32.mul(get(b), get(W))),
      forLoop(i, get(N), 1,
        set(row, i32.mul(mad(get(b), get(N), get(i)), get(W))),
        set(s, splat(scale, mad(get(b), get(N), get(i)))),
        forLoop(c, get(W), 4,
          f32x4.store(at(get(dM), column(row)), f32x4.mul(get(s), four(M, column(row))))),
        when(get(hasNext),
          ifElse(get(Hw),
            block(
              set(ww, splat(weights, mad(mad(get(b), get(H), get(R)), get(N), get(i)))),
              forLoop(c, get(W), 4,
                set(out, at(get(dM), column(row))),
                addTo(out, f32x4.mul(four(dNext, column(row)),
                  f32x4.sub(get(one), f32x4.mul(get(ww), four(erase, column(e)))))))),
            forLoop(c, get(W), 4,
              set(out, at(get(dM), column(row))),
              addTo(out, four(dNext, column(row)))))),
        rankOne(weights, dReads, R, i32.const(0)), // + sum_r w_r[i] dr_r
        rankOne(dDot, key, H, i32.const(0))))); // + sum_h dDot_h[i] k_h
  return { builder: fn, body };
}

/**
 * dKey[b, h] += sum_i dDot[b, h, i] M[b, i]; with a write head and `hasNext`,
 * dErase[b] -= sum_i dM_t[b, i] M[b, i] w[b, R, i] and dAdd[b] += sum_i dM_t[b, i] w[b, R, i].
 */
function columnGradsKernel(): KernelCode {
  // prettier-ignore
  const fn = new FunctionBuilder('columnGrads', ['B', 'N', 'W', 'R', 'Hw', 'hasNext', 'M', 'dNext', 'weights', 'dDot', 'dKey', 'dErase', 'dAdd']);
  const { B, N, W, R, Hw, hasNext, M, dNext, weights, dDot, dKey, dErase, dAdd } = fn.params;
  // prettier-ignore
  const { b, i, c, h, row, e, H, k, slot } = fn.locals(I32, 'b', 'i', 'c', 'h', 'row', 'e', 'H', 'k', 'slot');
  const { coefficient, v, g } = fn.locals(V128, 'coefficient', 'v', 'g');
  const column = (base: Local): Code => i32.add(get(base), get(c));
  // prettier-ignore
  const body = block(
    set(H, i32.add(get(R), get(Hw))),
    forLoop(b, get(B), 1,
      set(e, i32.mul(get(b), get(W))),
      forLoop(i, get(N), 1,
        set(row, i32.mul(mad(get(b), get(N), get(i)), get(W))),
        forLoop(h, get(H), 1,
          set(coefficient, splat(dDot, mad(mad(get(b), get(H), get(h)), get(N), get(i)))),
          set(k, i32.mul(mad(get(b), get(H), get(h)), get(W))),
          forLoop(c, get(W), 4,
            set(slot, at(get(dKey), column(k))),
            addTo(slot, f32x4.mul(get(coefficient), four(M, column(row)))))),
        when(get(Hw),
          when(get(hasNext),
            set(g, splat(weights, mad(mad(get(b), get(H), get(R)), get(N), get(i)))),
            forLoop(c, get(W), 4,
              set(v, f32x4.mul(four(dNext, column(row)), get(g))),
              set(slot, at(get(dAdd), column(e))),
              addTo(slot, get(v)),
              set(slot, at(get(dErase), column(e))),
              f32x4.store(get(slot), f32x4.sub(f32x4.load(get(slot)), f32x4.mul(get(v), four(M, column(row)))))))))));
  return { builder: fn, body };
}

/** Where each array lives in the module's memory, in floats. */
interface Layout {
  readonly batch: number;
  readonly M: number;
  readonly next: number;
  readonly key: number;
  readonly keyNorm: number;
  readonly weights: number;
  readonly erase: number;
  readonly add: number;
  readonly reads: number;
  readonly rowNorm: number;
  readonly dots: number;
  readonly dW: number;
  readonly dDot: number;
  readonly scale: number;
  readonly dKey: number;
  readonly dErase: number;
  readonly dAdd: number;
  readonly dM: number;
  readonly end: number;
}

/**
 * The {@link MemoryPasses} in WebAssembly SIMD for N slots of width W, R read heads and Hw
 * write heads, or undefined where they do not apply (W not a multiple of 4, more than one write
 * head, or no WebAssembly SIMD in this engine).
 */
export function simdPasses(N: number, W: number, R: number, Hw: number): MemoryPasses | undefined {
  const runtime = W % 4 === 0 && Hw <= 1 ? SimdRuntime.create() : undefined;
  type Name = 'contentDots' | 'readWrite' | 'weightGrads' | 'memoryGrads' | 'columnGrads';
  const kernels = runtime?.kernels<Name>('ntm.passes', () => [
    contentDotsKernel(),
    readWriteKernel(),
    weightGradsKernel(),
    memoryGradsKernel(),
    columnGradsKernel(),
  ]);
  if (runtime === undefined || kernels === undefined) return undefined;
  const H = R + Hw;
  const { contentDots, readWrite, weightGrads, memoryGrads, columnGrads } = kernels;
  let heap = runtime.heap;
  let layout: Layout | undefined;
  const prepare = (batch: number): Layout => {
    if (layout?.batch === batch) return layout;
    let end = 0;
    const take = (size: number): number => {
      const offset = end;
      end += size + ((4 - (size % 4)) % 4); // keep 16-byte alignment
      return offset;
    };
    const B = batch;
    const next: Layout = {
      batch,
      M: take(B * N * W),
      next: take(B * N * W),
      key: take(B * H * W),
      keyNorm: take(B * H),
      weights: take(B * H * N),
      erase: take(B * Hw * W),
      add: take(B * Hw * W),
      reads: take(B * R * W),
      rowNorm: take(B * N),
      dots: take(B * H * N),
      dW: take(B * H * N),
      dDot: take(B * H * N),
      scale: take(B * N),
      dKey: take(B * H * W),
      dErase: take(B * Hw * W),
      dAdd: take(B * Hw * W),
      dM: take(B * N * W),
      get end() {
        return end;
      },
    };
    runtime.ensure(end);
    heap = runtime.heap;
    layout = next;
    return next;
  };
  const bytes = (offset: number): number => offset * 4;
  const read = (offset: number, size: number, into: Float32Array | Float64Array): void => {
    into.set(heap.subarray(offset, offset + size));
  };

  let B = 0;
  let m = prepare(1);
  let hasNext = 0;
  return {
    kind: 'simd',
    beginForward(batch, M) {
      B = batch;
      m = prepare(B);
      heap.set(M.subarray(0, B * N * W), m.M);
    },
    contentScores(key, keyNorm, rowNorm, cosine) {
      heap.set(key.subarray(0, B * H * W), m.key);
      contentDots(B, N, W, H, bytes(m.M), bytes(m.key), bytes(m.rowNorm), bytes(m.dots));
      // |M[i]| = sqrt(sum M^2 + eps), cos = dot / (|k| |M[i]| + eps)
      for (let j = 0; j < B * N; j++) {
        rowNorm[j] = Math.sqrt((heap[m.rowNorm + j] as number) + CONTENT_EPSILON);
      }
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const kn = keyNorm[b * H + h] as number;
          const at = (b * H + h) * N;
          for (let i = 0; i < N; i++) {
            cosine[at + i] =
              (heap[m.dots + at + i] as number) /
              (kn * (rowNorm[b * N + i] as number) + CONTENT_EPSILON);
          }
        }
      }
    },
    readWrite(weights, erase, add, reads, next) {
      heap.set(weights.subarray(0, B * H * N), m.weights);
      heap.set(erase.subarray(0, B * Hw * W), m.erase);
      heap.set(add.subarray(0, B * Hw * W), m.add);
      heap.fill(0, m.reads, m.reads + B * R * W);
      // prettier-ignore
      readWrite(B, N, W, R, Hw, bytes(m.M), bytes(m.weights), bytes(m.erase), bytes(m.add), bytes(m.reads), bytes(m.next));
      read(m.reads, B * R * W, reads);
      read(m.next, B * N * W, next);
    },
    beginBackward(batch, M, dNext, dReads, weights, erase, add) {
      B = batch;
      m = prepare(B);
      hasNext = dNext === null ? 0 : 1;
      heap.set(M.subarray(0, B * N * W), m.M);
      if (dNext !== null) heap.set(dNext.subarray(0, B * N * W), m.next);
      heap.set(dReads.subarray(0, B * R * W), m.reads);
      heap.set(weights.subarray(0, B * H * N), m.weights);
      heap.set(erase.subarray(0, B * Hw * W), m.erase);
      heap.set(add.subarray(0, B * Hw * W), m.add);
    },
    weightGrads(dW) {
      heap.set(dW.subarray(0, B * H * N), m.dW);
      // prettier-ignore
      weightGrads(B, N, W, R, Hw, hasNext, bytes(m.M), bytes(m.reads), bytes(m.next), bytes(m.erase), bytes(m.add), bytes(m.dW));
      read(m.dW, B * H * N, dW);
    },
    memoryGrads(key, dDot, scale, dM) {
      heap.set(key.subarray(0, B * H * W), m.key);
      heap.set(dDot.subarray(0, B * H * N), m.dDot);
      heap.set(scale.subarray(0, B * N), m.scale);
      // prettier-ignore
      memoryGrads(B, N, W, R, Hw, hasNext, bytes(m.M), bytes(m.next), bytes(m.reads), bytes(m.weights), bytes(m.erase), bytes(m.key), bytes(m.dDot), bytes(m.scale), bytes(m.dM));
      read(m.dM, B * N * W, dM);
    },
    columnGrads(dDot, dKey, dErase, dAdd) {
      heap.set(dDot.subarray(0, B * H * N), m.dDot);
      heap.set(dKey.subarray(0, B * H * W), m.dKey);
      heap.fill(0, m.dErase, m.dErase + B * Hw * W);
      heap.fill(0, m.dAdd, m.dAdd + B * Hw * W);
      // prettier-ignore
      columnGrads(B, N, W, R, Hw, hasNext, bytes(m.M), bytes(m.next), bytes(m.weights), bytes(m.dDot), bytes(m.dKey), bytes(m.dErase), bytes(m.dAdd));
      read(m.dKey, B * H * W, dKey);
      if (Hw === 1 && hasNext) {
        read(m.dErase, B * Hw * W, dErase);
        read(m.dAdd, B * Hw * W, dAdd);
      }
    },
  };
}
