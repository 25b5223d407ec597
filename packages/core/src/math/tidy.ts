import * as tf from '@tensorflow/tfjs';

/**
 * `tf.tidy` for functions that return structured results (named states, step results):
 * every tensor reachable from the returned object is kept, all others are disposed.
 * tf.tidy's own typing only admits index-signature containers, hence this typed wrapper.
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}
