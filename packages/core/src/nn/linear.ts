import * as tf from '@tensorflow/tfjs';
import type { ParameterScope } from '../params.js';

/** A dense layer y = x W + b with Glorot-uniform W and zero b. */
export interface Linear {
  readonly inputSize: number;
  readonly outputSize: number;
  /** W, [inputSize, outputSize] */
  readonly kernel: tf.Variable;
  /** b, [outputSize] */
  readonly bias: tf.Variable;
  /** x [..., inputSize] -> [..., outputSize] (rank 2 or 3). */
  apply<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T;
}

/** Creates `kernel` and `bias` under `scope`. */
export function createLinear(
  scope: ParameterScope,
  inputSize: number,
  outputSize: number,
  biasInit = 0,
): Linear {
  const kernel = scope.create('kernel', [inputSize, outputSize], {
    kind: 'glorotUniform',
    fanIn: inputSize,
    fanOut: outputSize,
  });
  const bias = scope.create('bias', [outputSize], { kind: 'constant', value: biasInit });
  return {
    inputSize,
    outputSize,
    kernel,
    bias,
    apply<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T {
      if (x.rank === 2) {
        return tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel as tf.Tensor2D, bias }) as T;
      }
      return tf.tidy(() => {
        const [b, t] = x.shape as [number, number, number];
        const flat = x.reshape([b * t, inputSize]) as tf.Tensor2D;
        return tf.fused
          .matMul({ a: flat, b: kernel as tf.Tensor2D, bias })
          .reshape([b, t, outputSize]) as T;
      });
    },
  };
}
