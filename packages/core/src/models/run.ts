import * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type { ModelStepResult, RunOptions, RunResult, StepOptions } from '../interfaces.js';
import { checkShape } from '../errors.js';

/** The step function of a model, as {@link runSteps} calls it. */
export type StepFunction<S> = (
  input: tf.Tensor2D,
  state: S,
  options?: StepOptions,
) => ModelStepResult<S>;

/**
 * Runs `step` over every time step of `inputs` [B, T, I] and stacks the outputs to [B, T, O]
 * (and each trace key to [B, T, ...]). The reference sequence loop every model can use.
 */
export function runSteps<S>(
  step: StepFunction<S>,
  initialState: (batchSize: number) => S,
  inputs: tf.Tensor3D,
  inputSize: number,
  options: RunOptions<S> = {},
): RunResult {
  checkShape('inputs', inputs, [null, null, inputSize], '[B, T, inputSize]', 'float32');
  return tidy(() => {
    const [batchSize, steps] = inputs.shape;
    if (steps === 0) throw new Error('inputs must have at least one time step, got T = 0');
    let state = options.initialState ?? initialState(batchSize);
    const outputs: tf.Tensor2D[] = [];
    const traces: Record<string, tf.Tensor[]> = {};
    const stepOptions: StepOptions = { trace: options.trace ?? false };
    for (const x of tf.unstack(inputs, 1) as tf.Tensor2D[]) {
      const result = step(x, state, stepOptions);
      outputs.push(result.output);
      state = result.state;
      if (options.trace && result.trace) {
        for (const [key, value] of Object.entries(result.trace)) (traces[key] ??= []).push(value);
      }
    }
    const stacked: Record<string, tf.Tensor> = {};
    for (const [key, values] of Object.entries(traces)) stacked[key] = tf.stack(values, 1);
    return {
      outputs: tf.stack(outputs, 1) as tf.Tensor3D,
      ...(options.trace ? { traces: stacked } : {}),
    };
  });
}
