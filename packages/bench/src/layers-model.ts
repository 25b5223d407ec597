// `mann export` (a checkpoint as a TF.js layers model) and `mann eval` of such a model.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  checkpointToLayersModel,
  EXPORT_METADATA_KEY,
  layersModelFiles,
  loadCheckpoint,
  MannError,
  MODEL_JSON,
} from '@mann/core';
import type { ExportMetadata, SequenceBatch } from '@mann/core';
import { createTask, type Task } from '@mann/tasks';
import type { CommonOptions } from './options.js';
import { parseOverrides } from './overrides.js';
import { evaluationBatch, setDifficulty } from './runner.js';
import { table } from './table.js';

type Prepare = (options: CommonOptions) => Promise<string>;

const print = (options: CommonOptions, json: unknown, text: string): void => {
  process.stdout.write(options.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
};

/** True when `path` is a layers model: a directory holding `model.json`, or a `model.json`. */
export function isLayersModelPath(path: string): boolean {
  if (basename(path) === MODEL_JSON) return true;
  return existsSync(path) && statSync(path).isDirectory();
}

/** The directory of a layers model path (see {@link isLayersModelPath}). */
function layersModelDir(path: string): string {
  return basename(path) === MODEL_JSON ? dirname(path) : path;
}

/** `mann export <checkpoint> <dir>` */
export async function exportCommand(
  checkpointPath: string,
  dir: string,
  options: CommonOptions,
  prepare: Prepare,
): Promise<number> {
  const backend = await prepare(options);
  const checkpoint = await loadCheckpoint(checkpointPath);
  const model = checkpointToLayersModel(checkpoint);
  try {
    await model.save(layersModelFiles(dir));
    const layer = model.layers[0] as tf.layers.Layer;
    print(
      options,
      {
        backend,
        checkpoint: checkpointPath,
        dir,
        layer: layer.getClassName(),
        parameters: model.countParams(),
      },
      `wrote ${dir}/model.json and ${dir}/weights.bin: ${layer.getClassName()} (${checkpoint.modelConfig.type}) and a sigmoid, ${model.countParams()} parameters; load with tf.loadLayersModel`,
    );
    return 0;
  } finally {
    model.dispose();
  }
}

/** Per-step probabilities of a layers model on `batch`, [B, T, O] row-major, in chunks. */
export function predictLayers(
  model: tf.LayersModel,
  batch: SequenceBatch,
  chunk = 32,
): Float32Array {
  const { batchSize, steps, inputWidth, outputWidth } = batch;
  const out = new Float32Array(batchSize * steps * outputWidth);
  for (let start = 0; start < batchSize; start += chunk) {
    const n = Math.min(chunk, batchSize - start);
    tf.tidy(() => {
      const x = tf.tensor3d(
        batch.inputs.subarray(start * steps * inputWidth, (start + n) * steps * inputWidth),
        [n, steps, inputWidth],
      );
      const y = model.predict(x) as tf.Tensor;
      if (y.shape.join() !== [n, steps, outputWidth].join()) {
        throw new MannError(
          `the layers model must output per-step probabilities [B, T, ${outputWidth}], got [${y.shape.join(', ')}]`,
        );
      }
      out.set(y.dataSync(), start * steps * outputWidth);
    });
  }
  return out;
}

/** `mann eval <dir>` for a layers model (what `mann export` writes, or any with per-step probabilities). */
export async function evalLayersModelCommand(
  path: string,
  options: CommonOptions & { task?: string; set: string[]; size: number },
  prepare: Prepare,
): Promise<number> {
  const backend = await prepare(options);
  const dir = layersModelDir(path);
  const model = await tf.loadLayersModel(layersModelFiles(dir));
  try {
    const exported = (model.getUserDefinedMetadata() as Record<string, unknown> | undefined)?.[
      EXPORT_METADATA_KEY
    ] as ExportMetadata | undefined;
    const saved = exported?.metadata?.task as
      { name: string; params?: Record<string, unknown> } | undefined;
    const overrides = parseOverrides(options.set);
    const taskName = options.task ?? saved?.name;
    if (!taskName) throw new MannError(`layers model ${dir} does not name its task; pass --task`);
    const task = createTask(taskName, {
      ...(options.task ? {} : saved?.params),
      ...overrides.task,
    });
    const inputWidth = model.inputs[0]?.shape.at(-1);
    if (inputWidth !== task.inputWidth) {
      throw new MannError(
        `task '${taskName}' has input width ${task.inputWidth}; the layers model takes ${String(inputWidth)}`,
      );
    }
    const results = ['train', ...task.generalisation].map((name) => {
      const setTask: Task = name === 'train' ? task : task.variant(name);
      const batch = evaluationBatch(setTask, name, options.size);
      const scores = setTask.score(predictLayers(model, batch), batch);
      return { set: name, x: name === 'train' ? null : setDifficulty(name), ...scores };
    });
    const type = exported?.modelConfig.type ?? 'layers model';
    print(
      options,
      {
        backend,
        model: dir,
        modelConfig: exported?.modelConfig ?? null,
        task: { name: taskName, params: task.params },
        step: exported?.step ?? null,
        results,
      },
      `${type} (layers model ${dir}) on ${taskName}, ${exported?.step ?? '?'} updates\n${table(
        ['set', 'bits/seq', 'bit errors/seq', 'sequence accuracy'],
        results.map((r) => [r.set, r.bitsPerSequence, r.bitErrorsPerSequence, r.sequenceAccuracy]),
      )}`,
    );
    return 0;
  } finally {
    model.dispose();
  }
}
