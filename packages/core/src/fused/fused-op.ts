import * as tf from '@tensorflow/tfjs';

/** What a {@link FusedOpDefinition}'s forward pass reads its inputs through. */
export interface FusedInputs {
  /** Whether the call passed an input of this name. */
  has(name: string): boolean;
  /** The float32 values of an input. They belong to the backend: read them, never write. */
  floats(name: string): Float32Array;
  /** A copy of an input's values as integers (for int32 inputs such as indices). */
  ints(name: string): Int32Array;
  /**
   * An input as a tensor on the same data (no copy), for a forward pass that runs TF.js
   * kernels on it (nested kernels are not recorded on the gradient tape). Dispose it.
   */
  tensor(name: string): tf.Tensor;
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
   * Inputs the gradient receives as tensors (TF.js's `inputsToSave`): the engine keeps them
   * until the gradient has run, so weights stay readable after the forward's tidy disposed its
   * inputs. The rest of what the gradient needs belongs in `context`.
   */
  readonly save?: readonly string[];
  /**
   * The kernel: reads the inputs, runs the forward pass, returns the outputs in order. It may
   * keep what its backward pass needs in `context` (one object per call).
   */
  forward(inputs: FusedInputs, context: Context): FusedOutput[];
  /**
   * The gradient of one call: `dy` holds dL/d(output) for every output, in order (zeros for
   * unused ones), `saved` the inputs named in `save`; returns dL/d(input) by input name. Runs
   * at most once per call, and only under a gradient tape; it should let go of what `context`
   * holds for it.
   */
  backward(
    dy: Float32Array[],
    context: Context,
    saved: Readonly<Record<string, tf.Tensor>>,
  ): Record<string, () => tf.Tensor>;
}

/** Runs a fused op on named inputs with the per-call context; returns the outputs in order. */
export type FusedOp<Context extends object> = (
  inputs: Readonly<Record<string, tf.Tensor>>,
  context: Context,
) => tf.Tensor[];

interface Backend {
  readSync(dataId: object): ArrayLike<number>;
  incRef(dataId: object): void;
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
    inputs: Record<string, tf.TensorInfo | undefined>;
    backend: unknown;
    attrs?: Record<string, unknown>;
  }) => {
    const b = backend as Backend;
    const context = (attrs as { context: Context }).context;
    const info = (input: string): tf.TensorInfo => {
      const found = inputs[input];
      if (!found) throw new Error(`fused op ${name}: no input named '${input}'`);
      return found;
    };
    const data = (input: string) => b.readSync(info(input).dataId);
    const read: FusedInputs = {
      has: (input) => inputs[input] !== undefined,
      floats: (input) => data(input) as Float32Array,
      ints: (input) => Int32Array.from(data(input)),
      tensor: (input) => {
        // a second reference to the input's data, as TF.js's own Identity kernel makes
        const found = info(input);
        b.incRef(found.dataId);
        return tf.engine().makeTensorFromTensorInfo(found, backend as tf.KernelBackend);
      },
    };
    return definition.forward(read, context).map(({ values, shape }) => ({
      dataId: b.write(values, [...shape], 'float32'),
      shape: [...shape],
      dtype: 'float32' as const,
    }));
  };
  const saveNames = [...(definition.save ?? [])];
  const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) =>
    definition.backward(
      (Array.isArray(dy) ? dy : [dy]).map((t) => t.dataSync() as Float32Array),
      (attrs as unknown as { context: Context }).context,
      Object.fromEntries(saveNames.map((input, i) => [input, saved[i] as tf.Tensor])),
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
        tf.registerGradient({
          kernelName: name,
          inputsToSave: saveNames,
          gradFunc: gradFunc as unknown as tf.GradFunc,
        });
      }
      gradientRegistered = true;
    }
    const outputs = tf
      .engine()
      .runKernel(name, inputs as tf.NamedTensorMap, { context } as unknown as tf.NamedAttrMap);
    return Array.isArray(outputs) ? outputs : [outputs];
  };
}
