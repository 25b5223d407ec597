import * as tf from '@tensorflow/tfjs';

/** Forward value and backward rule of a {@link customGradient} op. */
export interface CustomGradientResult {
  readonly value: tf.Tensor;
  /** Gradients with respect to each input, in order, given dL/dvalue and the saved tensors. */
  readonly gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

/**
 * A typed wrapper of `tf.customGrad`: `forward(inputs, save)` computes the value and returns the
 * backward rule; tensors passed to `save` reach the rule as `saved`. Used for ops TF.js has no
 * gradient for, and for fused ops with hand-written gradients.
 */
export function customGradient<Inputs extends tf.Tensor[]>(
  forward: (inputs: Inputs, save: tf.GradSaveFunc) => CustomGradientResult,
): (...inputs: Inputs) => tf.Tensor {
  const wrapped = (...args: (tf.Tensor | tf.GradSaveFunc)[]): CustomGradientResult => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    return forward(args.slice(0, -1) as Inputs, save);
  };
  // tf.customGrad's declared parameter type is looser than how it calls the function.
  const op = tf.customGrad(wrapped as unknown as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: Inputs) => op(...inputs);
}
