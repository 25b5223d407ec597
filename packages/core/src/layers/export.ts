import * as tf from '@tensorflow/tfjs';
import { MannError } from '../errors.js';
import type { Checkpoint } from '../training/checkpoint.js';
import { createLayer } from './layer-registry.js';

/** Key of the mann data in an exported model's `userDefinedMetadata`. */
export const EXPORT_METADATA_KEY = 'mann';

/** What an exported model's `userDefinedMetadata.mann` holds. */
export interface ExportMetadata {
  /** The checkpoint's full model config. */
  readonly modelConfig: Checkpoint['modelConfig'];
  /** The checkpoint's caller metadata (task, run id, ...). */
  readonly metadata: Checkpoint['metadata'];
  /** Trainer updates the checkpoint had made, when it recorded them. */
  readonly step: number | null;
  /** What the model outputs: the sigmoid of the logits, per step, [B, T, outputSize]. */
  readonly outputs: 'probabilities';
}

/**
 * A checkpoint's model as a TF.js layers model: `tf.sequential` of the model's layer
 * (`createLayer`: an `NtmLayer`, `DncLayer`, ... with `returnSequences`, holding the model's
 * output layer W_y) and a sigmoid activation, so `predict([B, T, inputSize])` gives the
 * per-step probabilities [B, T, outputSize] that `predict` of `@mann/core` gives for the
 * checkpoint. The weights are the checkpoint's parameters; `userDefinedMetadata.mann` (see
 * {@link ExportMetadata}) keeps the config, the checkpoint's metadata and its step.
 */
export function checkpointToLayersModel(checkpoint: Checkpoint): tf.Sequential {
  const { type, inputSize, outputSize, ...options } = checkpoint.modelConfig;
  const layer = createLayer({
    ...options,
    type,
    units: outputSize,
    seed: 0,
    returnSequences: true,
    inputShape: [null, inputSize],
  });
  const model = tf.sequential({
    layers: [layer, tf.layers.activation({ activation: 'sigmoid' })],
  });
  try {
    const prefix = `${layer.name}/`;
    const names = new Set(layer.weights.map((w) => w.originalName.slice(prefix.length)));
    const extra = Object.keys(checkpoint.parameters).filter((name) => !names.has(name));
    if (extra.length > 0) {
      throw new MannError(`checkpoint has parameters the layer lacks: ${extra.join(', ')}`);
    }
    for (const weight of layer.weights) {
      const name = weight.originalName.slice(prefix.length);
      const saved = checkpoint.parameters[name];
      if (!saved) throw new MannError(`checkpoint has no parameter '${name}'`);
      if (saved.shape.join() !== weight.shape.join()) {
        throw new MannError(
          `checkpoint parameter '${name}' has shape [${saved.shape.join(', ')}], the layer expects [${weight.shape.join(', ')}]`,
        );
      }
      tf.tidy(() => {
        weight.write(tf.tensor(saved.values, saved.shape));
      });
    }
    const step = checkpoint.trainerState?.steps ?? null;
    const exported: ExportMetadata = {
      modelConfig: checkpoint.modelConfig,
      metadata: checkpoint.metadata,
      step,
      outputs: 'probabilities',
    };
    model.setUserDefinedMetadata({ [EXPORT_METADATA_KEY]: exported as unknown as object });
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}
