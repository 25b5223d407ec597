import * as tf from '@tensorflow/tfjs';
import type { Controller } from '../interfaces.js';
import type { ParameterScope } from '../params.js';
import { createLinear, type Linear } from '../nn/linear.js';
import { checkChoice } from '../errors.js';

/** Activations a feed-forward controller can use. */
export const FEEDFORWARD_ACTIVATIONS = ['tanh', 'relu', 'sigmoid'] as const;
export type FeedforwardActivation = (typeof FEEDFORWARD_ACTIVATIONS)[number];

/** A feed-forward controller keeps no state of its own. */
export type FeedforwardState = { readonly [key: string]: never };

/**
 * A feed-forward controller: dense layers with an activation; the memory is then the only
 * recurrence (the NTM paper's feed-forward variant). Parameters: `dense{k}/kernel`, `dense{k}/bias`.
 */
export class FeedforwardController implements Controller<FeedforwardState> {
  readonly layers: readonly Linear[];
  readonly outputSize: number;
  readonly activation: FeedforwardActivation;

  constructor(
    scope: ParameterScope,
    readonly inputSize: number,
    hiddenSizes: readonly number[],
    activation: FeedforwardActivation = 'tanh',
  ) {
    this.activation = checkChoice('activation', activation, FEEDFORWARD_ACTIVATIONS);
    if (hiddenSizes.length === 0)
      throw new Error('hiddenSizes must list at least one layer, got []');
    let width = inputSize;
    this.layers = hiddenSizes.map((hidden, k) => {
      const layer = createLinear(scope.scope(`dense${k}`), width, hidden);
      width = hidden;
      return layer;
    });
    this.outputSize = width;
  }

  initialState(): FeedforwardState {
    return {};
  }

  step(
    input: tf.Tensor2D,
    state: FeedforwardState,
  ): { output: tf.Tensor2D; state: FeedforwardState } {
    const output = tf.tidy(() => {
      let x = input;
      for (const layer of this.layers) {
        const z = layer.apply(x);
        x =
          this.activation === 'tanh'
            ? tf.tanh(z)
            : this.activation === 'relu'
              ? tf.relu(z)
              : tf.sigmoid(z);
      }
      return x;
    });
    return { output, state };
  }
}
