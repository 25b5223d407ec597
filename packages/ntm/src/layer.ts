import * as tf from '@tensorflow/tfjs';
import { MannCell, MannLayer, withModelType } from '@mann/core';
import type { LayerArgs, MannLayerOptions } from '@mann/core';
import type { NtmConfig } from './config.js';

/**
 * What {@link ntmLayer} takes: the layer options (`units`, `seed`, `returnSequences`,
 * `returnState`, `stateful`), any TF.js layer argument (`inputShape`, `name`, ...) and any NTM
 * option ({@link NtmConfig} without `type`, `inputSize`, `outputSize`), with the same defaults.
 */
export type NtmLayerArgs = LayerArgs &
  MannLayerOptions &
  Partial<Omit<NtmConfig, 'type' | 'inputSize' | 'outputSize'>>;

/**
 * A Neural Turing Machine as a TF.js layer; see core's `MannLayer` for inputs, outputs, masking,
 * state and how it computes. Registered for `tf.loadLayersModel` as `NtmLayer`.
 */
export class NtmLayer extends MannLayer {
  /** The name `tf.serialization` registers the class under (saved in model.json). */
  static override className = 'NtmLayer';

  constructor(args: NtmLayerArgs) {
    super(withModelType('NtmLayer', 'ntm', args));
  }
}
tf.serialization.registerClass(NtmLayer);

/**
 * An NTM layer in the style of `tf.layers.lstm`:
 * `tf.sequential({ layers: [ntmLayer({ units: 8, memorySlots: 32, memoryWidth: 8, returnSequences: true, inputShape: [null, 9] })] })`.
 */
export function ntmLayer(args: NtmLayerArgs): NtmLayer {
  return new NtmLayer(args);
}

/** What {@link ntmCell} takes: {@link NtmLayerArgs} without the sequence options. */
export type NtmCellArgs = LayerArgs &
  Omit<MannLayerOptions, 'returnSequences' | 'returnState' | 'stateful'> &
  Partial<Omit<NtmConfig, 'type' | 'inputSize' | 'outputSize'>>;

/**
 * One NTM step as a TF.js RNN cell, for `tf.layers.rnn` and `tf.layers.stackedRNNCells`: the
 * composable route, slower than {@link ntmLayer} (see core's `MannCell` for its states).
 * Registered for `tf.loadLayersModel` as `NtmCell`.
 */
export class NtmCell extends MannCell {
  /** The name `tf.serialization` registers the class under (saved in model.json). */
  static override className = 'NtmCell';

  constructor(args: NtmCellArgs) {
    super(withModelType('NtmCell', 'ntm', args));
  }
}
tf.serialization.registerClass(NtmCell);

/** A NTM cell: `tf.layers.rnn({ cell: ntmCell({ units: 8 }), returnSequences: true })`. */
export function ntmCell(args: NtmCellArgs): NtmCell {
  return new NtmCell(args);
}
