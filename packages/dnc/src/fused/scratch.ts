// Reusable temporary arrays for the fused step's passes. A step allocates its tape in a few
// large buffers and its temporaries here: thousands of small typed arrays per training step
// (each with its own backing store) made allocation and garbage collection a third of the
// step. The passes never run concurrently or re-entrantly (JS is single-threaded and none
// calls back into another), so one pool serves them all.

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
