import * as tf from '@tensorflow/tfjs';
import { customGradient } from './custom-gradient.js';

/** softplus(x) = log(1 + e^x), computed stably. */
export function softplus<T extends tf.Tensor>(x: T): T {
  return tf.softplus(x);
}

/** oneplus(x) = 1 + softplus(x) >= 1 (DNC paper, used for strengths and sharpening). */
export function oneplus<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.add(1, tf.softplus(x)) as T);
}

const stopGradientOp = customGradient<[tf.Tensor]>(([input]) => ({
  value: tf.clone(input),
  gradFunc: (dy) => tf.zerosLike(dy),
}));

/**
 * Identity in the forward pass, zero gradient in the backward pass. TF.js has no
 * `tf.stopGradient`; this one stays on the device (no data download).
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stopGradientOp(x) as T;
}
