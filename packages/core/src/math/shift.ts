import * as tf from '@tensorflow/tfjs';
import { invalidArgument } from '../errors.js';

/**
 * Circular shift (roll) along `axis`: `out[i] = x[(i - shift) mod n]`, so a shift of +1 moves the
 * value at index i to index i + 1. Built from slice + concat, which have gradients and kernels
 * on every backend (gather's gradient is missing on wasm, tensorflow/tfjs#8082).
 *
 * @param x - any tensor
 * @param shift - integer, any sign
 * @param axis - axis to roll, default the last
 */
export function circularShift<T extends tf.Tensor>(x: T, shift: number, axis = -1): T {
  if (!Number.isInteger(shift)) throw invalidArgument('shift', shift, 'an integer');
  const ax = axis < 0 ? x.rank + axis : axis;
  const n = x.shape[ax] as number;
  const k = ((shift % n) + n) % n;
  if (k === 0) return tf.clone(x);
  return tf.tidy(() => {
    const sizeHead = x.shape.map((s, i) => (i === ax ? n - k : s));
    const sizeTail = x.shape.map((s, i) => (i === ax ? k : s));
    const begin = x.shape.map((_, i) => (i === ax ? n - k : 0));
    const tail = tf.slice(x, begin, sizeTail);
    const head = tf.slice(
      x,
      x.shape.map(() => 0),
      sizeHead,
    );
    return tf.concat([tail, head], ax) as T;
  });
}
