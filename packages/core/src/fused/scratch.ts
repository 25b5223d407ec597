// Where the fused kernels' arrays come from. Allocated fresh per step, thousands of small typed
// arrays (each with its own backing store) made allocation and garbage collection a third of a
// DNC training step, and the ~60 MB a fused sequence keeps for its backward pass a tenth of it.
// Three tools, for three lifetimes:
// - `scratch` / `scratch32`: zeroed temporaries inside one pass. Passes never run concurrently
//   or re-entrantly (JS is single-threaded and none calls back into another), so one pool,
//   keyed by use, serves them all.
// - `Carver`: consecutive views of one large buffer (a tape allocated in a few pieces).
// - `Allocator` / `PooledArrays`: arrays that live from a sequence's forward pass to the end
//   of its backward pass, given back all at once. Pooled arrays are not zeroed: every user
//   overwrites them entirely.

const pool = new Map<string, Float64Array>();

/** A zeroed Float64Array of `size` for use inside one pass; `key` names its use. */
export function scratch(key: string, size: number): Float64Array {
  let array = pool.get(key);
  if (!array || array.length < size) {
    array = new Float64Array(Math.max(size, 2 * (array?.length ?? 0)));
    pool.set(key, array);
  } else array.fill(0, 0, size);
  return array;
}

const pool32 = new Map<string, Float32Array>();

/** A zeroed Float32Array of exactly `size` (a view of a reused buffer); `key` names its use. */
export function scratch32(key: string, size: number): Float32Array {
  let array = pool32.get(key);
  if (!array || array.length < size) {
    array = new Float32Array(Math.max(size, 2 * (array?.length ?? 0)));
    pool32.set(key, array);
  } else array.fill(0, 0, size);
  return array.subarray(0, size);
}

/** Views of consecutive parts of one buffer. */
export class Carver<T extends Float32Array | Int32Array> {
  private at = 0;
  constructor(readonly buffer: T) {}
  /** The next `size` elements. */
  take(size: number): T {
    const view = this.buffer.subarray(this.at, this.at + size) as T;
    this.at += size;
    return view;
  }
}

/** A source of arrays; contents are unspecified unless documented otherwise. */
export interface Allocator {
  floats(size: number): Float32Array;
  ints(size: number): Int32Array;
}

/** New (zeroed) arrays every time. */
export const freshArrays: Allocator = {
  floats: (size) => new Float32Array(size),
  ints: (size) => new Int32Array(size),
};

/** Pooled arrays kept at most, in bytes (beyond it, given-back arrays are left to the GC). */
const POOL_BYTES = 256 * 2 ** 20;
const arrayPool = new Map<string, (Float32Array | Int32Array)[]>();
let pooledBytes = 0;

function take<T extends Float32Array | Int32Array>(kind: 'f' | 'i', size: number): T | undefined {
  const array = arrayPool.get(`${kind}${size}`)?.pop() as T | undefined;
  if (array) pooledBytes -= array.byteLength;
  return array;
}

/** Arrays from the pool, all given back by {@link PooledArrays.release}. */
export class PooledArrays implements Allocator {
  private readonly handed: (Float32Array | Int32Array)[] = [];

  floats(size: number): Float32Array {
    const array = take<Float32Array>('f', size) ?? new Float32Array(size);
    this.handed.push(array);
    return array;
  }

  ints(size: number): Int32Array {
    const array = take<Int32Array>('i', size) ?? new Int32Array(size);
    this.handed.push(array);
    return array;
  }

  /** Gives every array back; none may be used afterwards. */
  release(): void {
    for (const array of this.handed.splice(0)) {
      if (pooledBytes + array.byteLength > POOL_BYTES) continue;
      const key = `${array instanceof Float32Array ? 'f' : 'i'}${array.length}`;
      let list = arrayPool.get(key);
      if (!list) arrayPool.set(key, (list = []));
      list.push(array);
      pooledBytes += array.byteLength;
    }
  }
}
