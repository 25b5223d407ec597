import type * as tf from '@tensorflow/tfjs';
import { tidy } from '../math/tidy.js';
import type { Controller } from '../interfaces.js';
import type { ParameterScope } from '../params.js';
import { checkChoice, checkInteger } from '../errors.js';
import {
  DEFAULT_IMPLEMENTATION,
  IMPLEMENTATIONS,
  rejectFusedOption,
  type Implementation,
} from '../implementation.js';
import { lstmCellFused } from '../fused/lstm-ops.js';
import {
  createLstmLayer,
  lstmCell,
  lstmInputProjection,
  zeroLstmState,
  type LstmInit,
  type LstmLayer,
  type LstmLayerState,
  type LstmState,
} from './lstm.js';

// The LSTM controller picks an implementation per layer step: the fused op or the composed
// reference of `lstm.ts` (which never imports fused code).

/** One layer's update from its input x [B, in]: the fused op or the composed reference. */
export function lstmLayerStep(
  layer: LstmLayer,
  x: tf.Tensor2D,
  state: LstmLayerState,
  implementation: Implementation,
): LstmLayerState {
  return implementation === 'fused'
    ? lstmCellFused(layer, x, state)
    : lstmCell(layer, lstmInputProjection(layer, x), state);
}

/** Options of an {@link LstmController} or `LstmModel` that do not change what it computes. */
export interface LstmOptions {
  /**
   * Run each cell update (and, in `LstmModel.run`, each layer's whole sequence) as one fused
   * op with a hand-written gradient (`lstmCellFused`, `lstmLayerSequence`) instead of
   * composing TF.js ops: same values and gradients, 3 kernels per cell step instead of 82.
   * `fused` (the default, {@link DEFAULT_IMPLEMENTATION}) or `composed`, the reference
   * ({@link lstmCell}). The same option as the NTM's and the DNC's `implementation`.
   */
  readonly implementation?: Implementation;
  /** How the layers' parameters start. Default `glorot` (see {@link LstmInit}). */
  readonly init?: LstmInit;
}

/**
 * A stacked LSTM controller (default controller of the NTM and DNC). Output is the top
 * layer's h_t. Parameters: `lstm{k}/inputKernel`, `lstm{k}/recurrentKernel`, `lstm{k}/bias`.
 */
export class LstmController implements Controller<LstmState> {
  readonly layers: readonly LstmLayer[];
  readonly outputSize: number;
  /** See {@link LstmOptions.implementation}. */
  readonly implementation: Implementation;

  constructor(
    scope: ParameterScope,
    readonly inputSize: number,
    hiddenSizes: readonly number[],
    options: LstmOptions = {},
  ) {
    checkInteger('inputSize', inputSize, 1);
    rejectFusedOption('LSTM controller options', options);
    this.implementation = checkChoice(
      'implementation',
      options.implementation ?? DEFAULT_IMPLEMENTATION,
      IMPLEMENTATIONS,
    );
    if (hiddenSizes.length === 0)
      throw new Error('hiddenSizes must list at least one layer, got []');
    let width = inputSize;
    this.layers = hiddenSizes.map((hidden, k) => {
      const layer = createLstmLayer(scope.scope(`lstm${k}`), width, hidden, options.init);
      width = hidden;
      return layer;
    });
    this.outputSize = width;
  }

  initialState(batchSize: number): LstmState {
    return zeroLstmState(this.layers, batchSize);
  }

  step(input: tf.Tensor2D, state: LstmState): { output: tf.Tensor2D; state: LstmState } {
    return tidy(() => {
      let x = input;
      const next: LstmLayerState[] = [];
      this.layers.forEach((layer, k) => {
        const s = lstmLayerStep(layer, x, state.layers[k] as LstmLayerState, this.implementation);
        next.push(s);
        x = s.h;
      });
      return { output: x, state: { layers: next } };
    });
  }
}
