// Where the fused step's arrays come from. A training step of the fused sequence allocates
// ~60 MB of typed arrays at the default size (mostly the link of every step, kept for the
// backward pass); allocated fresh each time, their backing stores made the garbage collector
// a tenth of the step. The sequence op takes them from a pool and gives them back once its
// backward pass is done. Pooled arrays are not zeroed: every user overwrites them entirely.

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
const pool = new Map<string, (Float32Array | Int32Array)[]>();
let pooledBytes = 0;

function take<T extends Float32Array | Int32Array>(kind: 'f' | 'i', size: number): T | undefined {
  const array = pool.get(`${kind}${size}`)?.pop() as T | undefined;
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
      let list = pool.get(key);
      if (!list) pool.set(key, (list = []));
      list.push(array);
      pooledBytes += array.byteLength;
    }
  }
}
