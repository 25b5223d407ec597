import * as tf from '@tensorflow/tfjs';
import type * as NodeFs from 'node:fs/promises';
import type * as NodePath from 'node:path';
import { MannError } from '../errors.js';
import { nodeBuiltin } from '../node-builtins.js';

const WHAT = 'layersModelFiles (files on disk)';
const INSTEAD =
  'save with tf.io.browserDownloads or an http:// URL, and load with tf.loadLayersModel(url)';
const fs = (): typeof NodeFs => nodeBuiltin<typeof NodeFs>('node:fs/promises', WHAT, INSTEAD);
const join = (...parts: string[]): string =>
  nodeBuiltin<typeof NodePath>('node:path', WHAT, INSTEAD).join(...parts);

/** Name of the topology file {@link layersModelFiles} writes (as `tf.io.browserFiles` expects). */
export const MODEL_JSON = 'model.json';
/** Name of the weights file {@link layersModelFiles} writes. */
export const WEIGHTS_BIN = 'weights.bin';

/**
 * A TF.js IOHandler that saves a model as the standard files of `model.save('file://dir')`
 * (`dir/model.json`: topology, weights manifest, metadata; `dir/weights.bin`: the weights as
 * little-endian float32) and loads such a directory, without tfjs-node:
 * `await model.save(layersModelFiles(dir))`, `await tf.loadLayersModel(layersModelFiles(dir))`.
 * The files load in a browser with `tf.loadLayersModel(url)` when served together.
 *
 * Saving writes each file under a temporary name and renames it into place, weights first, so
 * an interrupted save leaves the previous `model.json` pointing at complete weights or nothing.
 */
export function layersModelFiles(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new MannError(
          'layersModelFiles saves layers models (JSON topology), got a binary graph',
        );
      }
      await fs().mkdir(dir, { recursive: true });
      const weights = artifacts.weightData
        ? new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData))
        : new Uint8Array(0);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata
          ? { userDefinedMetadata: artifacts.userDefinedMetadata }
          : {}),
      };
      await writeAtomically(join(dir, WEIGHTS_BIN), weights);
      await writeAtomically(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts),
      };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const path = join(dir, MODEL_JSON);
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(await fs().readFile(path, 'utf8')) as tf.io.ModelJSON;
      } catch (error) {
        throw new MannError(`cannot read a layers model from ${path}: ${(error as Error).message}`);
      }
      if (!modelJson || typeof modelJson !== 'object' || !modelJson.modelTopology) {
        throw new MannError(`${path} has no modelTopology: not a TF.js layers model`);
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const file of group.paths) {
            const bytes = await fs().readFile(join(dir, file));
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
          }
        }
        return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
      });
    },
  };
}

async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const suffix = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(6)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
  const temporary = `${path}.${suffix}.tmp`;
  try {
    await fs().writeFile(temporary, data);
    await fs().rename(temporary, path);
  } catch (error) {
    await fs().rm(temporary, { force: true });
    throw error;
  }
}
