import * as tf from '@tensorflow/tfjs';
import { MannCell, MannLayer, withModelType } from '@mann/core';
import type { LayerArgs, MannLayerOptions } from '@mann/core';
import type { DncConfig } from './config.js';
import { isResidentLink, readLink } from './fused/resident-link.js';

/**
 * A DNC model state with the fused implementation's resident link (kept in JS memory) read out
 * as tensors: the dense link, or the `SparseLink` of sparse links (both differentiable).
 */
export function dncStateTensors(state: unknown): unknown {
  const model = state as { memory?: { link?: unknown } };
  const link = model.memory?.link;
  if (!isResidentLink(link)) return state;
  return { ...model, memory: { ...model.memory, link: readLink(link) } };
}

/**
 * What {@link dncLayer} takes: the layer options (`units`, `seed`, `returnSequences`,
 * `returnState`, `stateful`), any TF.js layer argument (`inputShape`, `name`, ...) and any DNC
 * option ({@link DncConfig} without `type`, `inputSize`, `outputSize`), with the same defaults.
 */
export type DncLayerArgs = LayerArgs &
  MannLayerOptions &
  Partial<Omit<DncConfig, 'type' | 'inputSize' | 'outputSize'>>;

/**
 * A Differentiable Neural Computer as a TF.js layer; see core's `MannLayer` for inputs, outputs, masking,
 * state and how it computes. Registered for `tf.loadLayersModel` as `DncLayer`.
 */
export class DncLayer extends MannLayer {
  /** The name `tf.serialization` registers the class under (saved in model.json). */
  static override className = 'DncLayer';

  constructor(args: DncLayerArgs) {
    super(withModelType('DncLayer', 'dnc', args), dncStateTensors);
  }
}
tf.serialization.registerClass(DncLayer);

/**
 * An DNC layer in the style of `tf.layers.lstm`:
 * `tf.sequential({ layers: [dncLayer({ units: 8, returnSequences: true, inputShape: [null, 9] })] })`.
 */
export function dncLayer(args: DncLayerArgs): DncLayer {
  return new DncLayer(args);
}

/** What {@link dncCell} takes: {@link DncLayerArgs} without the sequence options. */
export type DncCellArgs = LayerArgs &
  Omit<MannLayerOptions, 'returnSequences' | 'returnState' | 'stateful'> &
  Partial<Omit<DncConfig, 'type' | 'inputSize' | 'outputSize'>>;

/**
 * One DNC step as a TF.js RNN cell, for `tf.layers.rnn` and `tf.layers.stackedRNNCells`: the
 * composable route, slower than {@link dncLayer} (see core's `MannCell` for its states).
 * Registered for `tf.loadLayersModel` as `DncCell`.
 */
export class DncCell extends MannCell {
  /** The name `tf.serialization` registers the class under (saved in model.json). */
  static override className = 'DncCell';

  constructor(args: DncCellArgs) {
    super(withModelType('DncCell', 'dnc', args), dncStateTensors);
  }
}
tf.serialization.registerClass(DncCell);

/** A DNC cell: `tf.layers.rnn({ cell: dncCell({ units: 8 }), returnSequences: true })`. */
export function dncCell(args: DncCellArgs): DncCell {
  return new DncCell(args);
}
