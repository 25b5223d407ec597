import * as tf from '@tensorflow/tfjs';
import { customGradient } from './custom-gradient.js';

const exclusiveCumprodOp = customGradient<[tf.Tensor]>(([input], save) => {
  const axis = input.rank - 1;
  const value = tf.cumprod(input, axis, true);
  save([input, value]);
  return {
    value,
    gradFunc: (dy, saved) => {
      const [xs, ys] = saved as [tf.Tensor, tf.Tensor];
      // sum over j > i of dy[j] * y[j]: a reverse, exclusive cumulative sum
      const tail = tf.cumsum(tf.mul(dy, ys), axis, true, true);
      return tf.div(tail, xs);
    },
  };
});

/**
 * Exclusive cumulative product along the last axis, `y[j] = prod_{i<j} x[i]` (y[0] = 1),
 * with a gradient. TF.js registers no gradient for Cumprod (tensorflow/tfjs#8558); this supplies
 * `dL/dx[i] = sum_{j>i} dy[j] y[j] / x[i]`, exact for strictly positive x (the DNC's
 * allocation uses `u' = eps + (1 - eps) u >= eps`). Zeros in x give a non-finite gradient.
 *
 * @param x - [..., n], strictly positive where gradients are needed
 * @returns [..., n]
 */
export function exclusiveCumprod<T extends tf.Tensor>(x: T): T {
  return exclusiveCumprodOp(x) as T;
}
