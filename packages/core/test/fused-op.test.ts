// defineFusedOp: a kernel on typed arrays with several outputs and a hand-written gradient,
// checked against the same function written with TF.js ops.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defineFusedOp } from '@mann/core/fused';

interface Context {
  scale: number;
  x?: Float32Array;
  w?: Float32Array;
}

// y = scale * x and z = x * w (element-wise), both [n]
const op = defineFusedOp<Context>({
  name: 'MannTestFusedOp',
  forward(inputs, context) {
    const x = inputs.floats('x');
    const w = inputs.floats('w');
    context.x = x.slice();
    context.w = w.slice();
    const y = x.map((v) => v * context.scale);
    const z = x.map((v, i) => v * (w[i] as number));
    return [
      { values: y, shape: [x.length] },
      { values: z, shape: [x.length] },
    ];
  },
  backward([dy, dz], context) {
    const { scale, x, w } = context as Required<Context>;
    context.x = context.w = undefined;
    const dyv = dy as Float32Array;
    const dzv = dz as Float32Array;
    return {
      x: () => tf.tensor1d(dyv.map((v, i) => v * scale + (dzv[i] as number) * (w[i] as number))),
      w: () => tf.tensor1d(x.map((v, i) => v * (dzv[i] as number))),
    };
  },
});

describe('defineFusedOp', () => {
  it('gives every output and the gradients of the composed function, without leaks', () => {
    const x = tf.tensor1d([1, -2, 3]);
    const w = tf.tensor1d([0.5, 4, -1]);
    const before = tf.memory().numTensors;
    const loss = (a: tf.Tensor, b: tf.Tensor, fused: boolean): tf.Scalar => {
      const [y, z] = fused
        ? (op({ x: a, w: b }, { scale: 3 }) as [tf.Tensor, tf.Tensor])
        : [tf.mul(a, 3), tf.mul(a, b)];
      return tf.add(tf.sum(tf.square(y)), tf.sum(tf.mul(z, tf.tensor1d([1, 2, 3]))));
    };
    const fused = tf.grads((a, b) => loss(a, b, true))([x, w]);
    const composed = tf.grads((a, b) => loss(a, b, false))([x, w]);
    for (let i = 0; i < 2; i++) {
      expect(Array.from((fused[i] as tf.Tensor).dataSync())).toEqual(
        Array.from((composed[i] as tf.Tensor).dataSync()),
      );
    }
    tf.dispose([...fused, ...composed]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });

  it('passes zeros for an output that gets no gradient', () => {
    const x = tf.tensor1d([1, 2]);
    const w = tf.tensor1d([5, 7]);
    // only z is used: dL/dx = w, dL/dw = x
    const [dx, dw] = tf.grads((a, b) =>
      tf.sum((op({ x: a, w: b }, { scale: 2 }) as tf.Tensor[])[1] as tf.Tensor),
    )([x, w]);
    expect(Array.from((dx as tf.Tensor).dataSync())).toEqual([5, 7]);
    expect(Array.from((dw as tf.Tensor).dataSync())).toEqual([1, 2]);
    tf.dispose([x, w, dx as tf.Tensor, dw as tf.Tensor]);
  });
});

// y = x W for x [1, n] and W [n, m], the product as a nested TF.js kernel on the inputs as
// tensors; the gradient reads the saved W (dx = dy W^T) and the context's x (dW = x^T dy).
const productOp = defineFusedOp<{ x?: Float32Array }>({
  name: 'MannTestFusedProduct',
  save: ['w'],
  forward(inputs, context) {
    const x = inputs.tensor('x');
    const w = inputs.tensor('w');
    const y = tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
    const values = y.dataSync() as Float32Array;
    const shape = y.shape;
    context.x = inputs.floats('x').slice();
    tf.dispose([x, w, y]);
    return [{ values, shape }];
  },
  backward([dy], context, saved) {
    const x = context.x as Float32Array;
    context.x = undefined;
    const dyT = tf.tensor2d(dy as Float32Array, [1, (dy as Float32Array).length]);
    return {
      x: () => tf.matMul(dyT, saved.w as tf.Tensor2D, false, true),
      w: () => tf.matMul(tf.tensor2d(x, [1, x.length]), dyT, true, false),
    };
  },
});

describe('defineFusedOp, saved inputs and inputs as tensors', () => {
  it('keeps a saved input for the gradient after the forward disposed it, and leaks nothing', () => {
    const x = tf.tensor2d([[1, -2]]);
    const wValues = [
      [0.5, 4, -1],
      [2, 0, 3],
    ];
    const before = tf.memory().numTensors;
    // W is made inside the function tf.grads runs in a tidy: disposed before the gradient runs
    // unless the op keeps it
    const w = tf.tensor2d(wValues);
    const y = productOp({ x, w }, {})[0] as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual([-3.5, 4, -7]);
    tf.dispose([y, w]);
    expect(tf.memory().numTensors).toBe(before);
    const [dx] = tf.grads((a) =>
      tf.sum(
        tf.mul(
          (productOp({ x: a, w: tf.tensor2d(wValues) }, {}) as tf.Tensor[])[0] as tf.Tensor,
          tf.tensor2d([[1, 2, 3]]),
        ),
      ),
    )([x]);
    // dL/dx = [1, 2, 3] W^T = [0.5 + 8 - 3, 2 + 0 + 9]
    expect(Array.from((dx as tf.Tensor).dataSync())).toEqual([5.5, 11]);
    tf.dispose(dx as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
