import type * as tf from '@tensorflow/tfjs';
import type { RecurrentModel } from '../interfaces.js';
import { withVariableFactory } from '../params.js';
import { createModel } from '../registry.js';

/** The initializer type `Layer.addWeight` takes. */
export type WeightInitializer = ReturnType<typeof tf.initializers.zeros>;

/** A layer's `addWeight`, bound: what {@link buildModelAsWeights} makes each parameter with. */
export type AddWeight = (
  name: string,
  shape: number[],
  initializer: WeightInitializer,
  trainable: boolean,
) => tf.LayerVariable;

/**
 * Builds the registered model `config` with each of its parameters made by `addWeight` (a
 * layer's weight named by the parameter's logical name, e.g. `controller/lstm0/kernel`), so
 * `model.fit` trains them, `model.save` writes them and `loadWeights` restores them while the
 * model reads the very same variables. The first values are those
 * `createModel(config, { seed })` draws.
 */
export function buildModelAsWeights(
  addWeight: AddWeight,
  config: Parameters<typeof createModel>[0],
  seed: number,
): RecurrentModel {
  return withVariableFactory(
    (name, initial, trainable) => {
      // addWeight disposes what the initializer returns, so hand it a copy
      const initializer = { apply: () => initial.clone() } as unknown as WeightInitializer;
      return addWeight(name, [...initial.shape], initializer, trainable).read() as tf.Variable;
    },
    () => createModel(config, { seed }),
  );
}
