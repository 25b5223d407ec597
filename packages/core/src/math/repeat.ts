import * as tf from '@tensorflow/tfjs';
import { MannError } from '../errors.js';
import { customGradient } from './custom-gradient.js';

/**
 * `x` repeated `count` times along a new first axis: `[count, ...x.shape]`, the usual way to
 * give every sequence of a batch the same learned initial state. The same values as
 * `tf.tile(tf.expandDims(x, 0), [count, 1, ...])`, at a fraction of the cost per step: the copies
 * are one concatenation (the wasm backend's Tile kernel indexes value by value, ~20x slower
 * here), and the gradient is one sum over the new axis, where `tf.tile`'s slices and adds each
 * copy (two kernels per sequence of the batch). On the wasm backend that sum adds the copies in
 * the same order as `tf.tile`'s gradient, so the result is the same to the bit; on the cpu
 * backend it may differ in the last place.
 */
export function repeatBatch<T extends tf.Tensor>(x: tf.Tensor, count: number): T {
  if (!Number.isInteger(count) || count < 1) {
    throw new MannError(`repeatBatch: count must be a positive integer, got ${count}`);
  }
  const repeat = customGradient<[tf.Tensor]>(([input]) => ({
    value: tf.tidy(() => {
      const one = tf.expandDims(input, 0);
      return count === 1 ? one : tf.concat(new Array<tf.Tensor>(count).fill(one), 0);
    }),
    gradFunc: (dy) => tf.sum(dy, 0),
  }));
  return repeat(x) as T;
}
