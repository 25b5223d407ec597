import * as tf from '@tensorflow/tfjs';

/** What a {@link FusedOpDefinition}'s forward pass reads its inputs through. */
export interface FusedInputs {
  /** Whether the call passed an input of this name. */
  has(name: string): boolean;
  /** The float32 values of an input. They belong to the backend: read them, never write. */
  floats(name: string): Float32Array;
  /** A copy of an input's values as integers (for int32 inputs such as indices). */
  ints(name: string): Int32Array;
}

/** One output of a fused op's forward pass: float32 values and their shape. */
export interface FusedOutput {
  readonly values: Float32Array;
  readonly shape: readonly number[];
}

/** A fused op: a kernel on typed arrays and its hand-written gradient. */
export interface FusedOpDefinition<Context extends object> {
  /** The kernel's name, unique in the process (e.g. `MannDncFusedStep`). */
  readonly name: string;
  /**
   * The kernel: reads the inputs, runs the forward pass, returns the outputs in order. It may
   * keep what its backward pass needs in `context` (one object per call).
   */
  forward(inputs: FusedInputs, context: Context): FusedOutput[];
  /**
   * The gradient of one call: `dy` holds dL/d(output) for every output, in order (zeros for
   * unused ones); returns dL/d(input) by input name. Runs at most once per call, and only
   * under a gradient tape; it should let go of what `context` holds for it.
   */
  backward(dy: Float32Array[], context: Context): Record<string, () => tf.Tensor>;
}

/** Runs a fused op on named inputs with the per-call context; returns the outputs in order. */
export type FusedOp<Context extends object> = (
  inputs: Readonly<Record<string, tf.Tensor>>,
  context: Context,
) => tf.Tensor[];

interface Backend {
  readSync(dataId: object): ArrayLike<number>;
  write(values: Float32Array, shape: number[], dtype: 'float32'): object;
}

/**
 * Makes a fused op the way TF.js makes its own: a kernel, registered lazily for whichever
 * backend is in use when the op first runs on it (so it works on any backend whose data can be
 * read with `readSync` and written with `write`, the stand-in backends of the tests included),
 * and a gradient registered once for the kernel name. Unlike `tf.customGrad` an op may have
 * several outputs, each differentiable. The JS state of a call (`context`, e.g. the forward
 * pass's tape) travels to the gradient in the kernel's attributes; the tape node holds it until
 * the gradient computation ends, so `backward` should clear what it no longer needs.
 */
export function defineFusedOp<Context extends object>(
  definition: FusedOpDefinition<Context>,
): FusedOp<Context> {
  const { name } = definition;
  const kernelFunc = ({
    inputs,
    backend,
    attrs,
  }: {
    inputs: Record<string, { dataId: object } | undefined>;
    backend: unknown;
    attrs?: Record<string, unknown>;
  }) => {
    const b = backend as Backend;
    const context = (attrs as { context: Context }).context;
    const data = (input: string) => {
      const info = inputs[input];
      if (!info) throw new Error(`fused op ${name}: no input named '${input}'`);
      return b.readSync(info.dataId);
    };
    const read: FusedInputs = {
      has: (input) => inputs[input] !== undefined,
      floats: (input) => data(input) as Float32Array,
      ints: (input) => Int32Array.from(data(input)),
    };
    return definition.forward(read, context).map(({ values, shape }) => ({
      dataId: b.write(values, [...shape], 'float32'),
      shape: [...shape],
      dtype: 'float32' as const,
    }));
  };
  const gradFunc = (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) =>
    definition.backward(
      (Array.isArray(dy) ? dy : [dy]).map((t) => t.dataSync() as Float32Array),
      (attrs as unknown as { context: Context }).context,
    );
  let gradientRegistered = false;
  return (inputs, context) => {
    const backendName = tf.getBackend();
    if (!tf.getKernel(name, backendName)) {
      tf.registerKernel({
        kernelName: name,
        backendName,
        kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      });
    }
    if (!gradientRegistered) {
      if (!tf.getGradient(name)) {
        tf.registerGradient({ kernelName: name, gradFunc: gradFunc as unknown as tf.GradFunc });
      }
      gradientRegistered = true;
    }
    const outputs = tf
      .engine()
      .runKernel(name, inputs as tf.NamedTensorMap, { context } as unknown as tf.NamedAttrMap);
    return Array.isArray(outputs) ? outputs : [outputs];
  };
}
