/**
 * A model type for the threads check page only: the LSTM baseline under the name
 * `thread-probe`. The check's own training-thread script registers it failing (its `run` throws
 * {@link THREAD_FAILURE}), the trainer's worker registers it working and slow (`slowMs` per
 * chunk), so that the trainer's chunks succeed and the thread surely claims one (threads claim
 * the chunks of a step as they come free) and fails.
 */
import { lstmModelDefinition, registerModel } from '@mann/core';
import type { LstmModelConfig, ModelConfig, ModelDefinition, RecurrentModel } from '@mann/core';

export const THREAD_FAILURE = 'thread-probe failed on purpose in a training thread';

export function registerThreadProbe(failing: boolean, slowMs = 0): void {
  const definition: ModelDefinition = {
    type: 'thread-probe',
    description: `LSTM baseline${failing ? ' that fails' : ''} (the threads check only)`,
    resolveConfig: (config) => ({
      ...lstmModelDefinition.resolveConfig({ ...config, type: 'lstm' } as LstmModelConfig),
      type: 'thread-probe',
    }),
    create(config: ModelConfig, rng): RecurrentModel {
      const inner = lstmModelDefinition.create(
        { ...(config as unknown as LstmModelConfig), type: 'lstm' },
        rng,
      );
      return {
        config,
        inputSize: inner.inputSize,
        outputSize: inner.outputSize,
        parameters: inner.parameters,
        initialState: (batchSize) => inner.initialState(batchSize),
        step: (input, state, options) => inner.step(input, state, options),
        run(inputs, options) {
          if (failing) throw new Error(THREAD_FAILURE);
          if (slowMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, slowMs);
          return inner.run(inputs, options);
        },
        dispose: () => inner.dispose(),
      };
    },
  };
  registerModel(definition);
}
