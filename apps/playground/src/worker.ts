/**
 * The training worker: builds the chosen model and task, trains it step by step off the page's
 * main thread (with `threads` > 1, on this worker and `threads - 1` training threads it starts,
 * src/training-thread.ts, which needs a cross-origin isolated page), and posts the learning curve and, about once a second, a sample sequence with the
 * memory's read and write weightings (and the DNC's usage and temporal link).
 */
import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  Trainer,
  createModel,
  decodeCheckpoint,
  encodeCheckpoint,
  predict,
  restoreCheckpoint,
  selectBackend,
} from '@mann/core';
import type { ModelConfig, RecurrentModel, SequenceBatch } from '@mann/core';
import '@mann/ntm';
import '@mann/dnc';
import { createTask } from '@mann/tasks';
import type { Task } from '@mann/tasks';
import { longestParams, modelConfig, taskParams } from './models.js';
import { checkSettings } from './protocol.js';
import { startTrainingThread } from './thread-script.js';
import { WASM_PATHS, singleThreadedWasm } from './wasm-paths.js';
import type { FromWorker, Matrix, PlaygroundSettings, SampleView, ToWorker } from './protocol.js';

/** Sequences in the evaluation batch behind each curve point. */
const EVAL_BATCH = 32;
/** Milliseconds between samples of the memory at work. */
const SAMPLE_EVERY_MS = 1000;
/** Milliseconds between curve points. */
const POINT_EVERY_MS = 250;

const post = (message: FromWorker): void => (self as unknown as Worker).postMessage(message);

let generation = 0;

/** The model last trained or loaded, kept for saving and for pictures until the next one. */
interface Current {
  readonly model: RecurrentModel;
  readonly trainer?: Trainer;
  readonly task: Task;
  readonly label: string;
}
let current: Current | null = null;

function replaceCurrent(next: Current | null): void {
  current?.trainer?.dispose();
  current?.model.dispose();
  current = next;
}

singleThreadedWasm();
const backendReady = selectBackend({
  backend: 'wasm',
  wasmPaths: WASM_PATHS,
}).then(
  (info) => {
    post({ type: 'ready', backend: info.name });
    return info;
  },
  (error: unknown) => {
    post({ type: 'error', message: `no backend: ${String(error)}` });
    throw error;
  },
);

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === 'stop') {
    generation++;
    return;
  }
  const fail = (error: unknown): void =>
    post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  if (message.type === 'train') {
    const mine = ++generation;
    train(message.settings, () => generation !== mine).catch(fail);
  } else if (message.type === 'save') {
    try {
      save();
    } catch (error) {
      fail(error);
    }
  } else if (message.type === 'load') {
    generation++;
    load(message.bytes, message.name).catch(fail);
  } else if (message.type === 'loadLayers') {
    generation++;
    loadLayers(message.modelJson, message.weights).catch(fail);
  }
};

function save(): void {
  if (!current) throw new Error('nothing to save yet: train or load a model first');
  const bytes = encodeCheckpoint({
    model: current.model,
    ...(current.trainer ? { trainer: current.trainer } : {}),
    metadata: {
      task: { name: current.task.name, params: current.task.params },
      modelLabel: current.label,
      savedBy: 'mann playground',
    },
  });
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const name = `${current.label}-${current.task.name}.ckpt`;
  (self as unknown as Worker).postMessage({ type: 'saved', bytes: buffer, name }, [
    buffer as ArrayBuffer,
  ]);
}

async function load(bytes: ArrayBuffer, name: string): Promise<void> {
  await backendReady;
  const checkpoint = decodeCheckpoint(new Uint8Array(bytes), name);
  const saved = checkpoint.metadata.task as
    { name?: unknown; params?: Record<string, unknown> } | undefined;
  if (typeof saved?.name !== 'string') {
    throw new Error(`checkpoint ${name} does not name its task (metadata.task.name)`);
  }
  const task = createTask(saved.name, saved.params ?? {});
  const { model, trainer } = restoreCheckpoint(checkpoint);
  const label = String(checkpoint.metadata.modelLabel ?? checkpoint.modelConfig.type);
  show({ model, ...(trainer ? { trainer } : {}), task, label }, name);
}

/**
 * Loads a layers model exported by `mann export` (model.json and weights.bin): TF.js checks and
 * reads it, then the model it wraps is rebuilt from its config (kept in the export's metadata)
 * with the layer's weights, so the page can show its memory at work.
 */
async function loadLayers(modelJson: string, weights: ArrayBuffer): Promise<void> {
  await backendReady;
  const name = 'model.json';
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(modelJson) as tf.io.ModelJSON;
  } catch (error) {
    throw new Error(`${name} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const layers = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest?.flatMap((group) => group.weights) ?? [],
      weightData: weights,
      ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
    }),
  );
  try {
    const exported = (layers.getUserDefinedMetadata() as Record<string, unknown> | undefined)
      ?.mann as
      | { modelConfig?: ModelConfig; metadata?: { task?: { name?: unknown; params?: object } } }
      | undefined;
    const config = exported?.modelConfig;
    const saved = exported?.metadata?.task;
    if (!config || typeof saved?.name !== 'string') {
      throw new Error(
        `${name} is not a model exported by mann export (userDefinedMetadata.mann with the model config and task is missing)`,
      );
    }
    const layer = layers.layers[0]!;
    const prefix = `${layer.name}/`;
    const model = createModel(config);
    try {
      model.parameters.load(
        Object.fromEntries(
          layer.weights.map((w) => [
            w.originalName.slice(prefix.length),
            { shape: w.shape as number[], values: w.read().dataSync() as Float32Array },
          ]),
        ),
      );
    } catch (error) {
      model.dispose();
      throw error;
    }
    const task = createTask(saved.name, (saved.params ?? {}) as Record<string, unknown>);
    show({ model, task, label: config.type }, name);
  } finally {
    layers.dispose();
  }
}

/** Makes `loaded` the current model; scores it on a fresh batch and shows it at work. */
function show(loaded: Current, name: string): void {
  const { model, task, label } = loaded;
  if (task.inputWidth !== model.inputSize || task.outputWidth !== model.outputSize) {
    loaded.trainer?.dispose();
    model.dispose();
    throw new Error(
      `${name}: task '${task.name}' has widths in=${task.inputWidth}, out=${task.outputWidth}; its model has in=${model.inputSize}, out=${model.outputSize}`,
    );
  }
  replaceCurrent(loaded);
  const evaluation = task.sample(new Rng(1), EVAL_BATCH);
  const scores = task.score(predict(model, evaluation), evaluation);
  const picture = pictureModel(model);
  try {
    post({ type: 'sample', sample: sampleView(picture, task.sample(new Rng(2), 1)), sequences: 0 });
  } finally {
    if (picture !== model) picture.dispose();
  }
  post({
    type: 'loaded',
    description: `${label} on ${task.name} from ${name}: ${model.parameters.count().toLocaleString()} parameters`,
    bitErrorsPerSequence: scores.bitErrorsPerSequence,
    bitsPerSequence: scores.bitsPerSequence,
  });
}

/**
 * A composed-implementation twin of a memory model with its parameters (its state holds the
 * DNC link as a tensor); the LSTM baseline, which has no memory to picture, as it is.
 */
function pictureModel(model: RecurrentModel): RecurrentModel {
  if (model.config.type === 'lstm' || !('implementation' in model.config)) return model;
  const twin = createModel({ ...model.config, implementation: 'composed' });
  twin.parameters.load(model.parameters.snapshot());
  return twin;
}

/** Lets queued messages (stop, a new train) in between training steps. */
const yieldToEvents = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

async function train(raw: PlaygroundSettings, cancelled: () => boolean): Promise<void> {
  const settings = checkSettings(raw);
  await backendReady;
  const task = createTask(settings.task, taskParams(settings));
  const config = modelConfig(settings, task.inputWidth, task.outputWidth);
  const model = createModel(config, { seed: settings.seed });
  let trainer: Trainer;
  try {
    trainer = new Trainer(model, {
      optimizer: { kind: 'adam', learningRate: settings.learningRate },
      clipNorm: 10,
      ...(settings.threads > 1
        ? { workers: settings.threads, workerScript: startTrainingThread }
        : {}),
    });
  } catch (error) {
    model.dispose();
    throw error;
  }
  replaceCurrent({ model, trainer, task, label: settings.model });
  // The threads must have started before the first step: a thread cannot finish starting while
  // this worker blocks on it, as every step does.
  await trainer.startThreads();
  const rng = new Rng(settings.seed + 1);
  const evalBatch = task.sample(new Rng(settings.seed + 2), EVAL_BATCH);
  const sampleRng = new Rng(settings.seed + 3);
  // Pictures use the longest training sequences, which show the most of the memory at work,
  // and a composed-implementation twin of the model, whose state holds the DNC's link as a tensor.
  const pictureTask = task.variantWith(longestParams(settings));
  const twin =
    settings.model === 'lstm' ? null : createModel({ ...config, implementation: 'composed' });
  post({
    type: 'started',
    parameters: model.parameters.count(),
    description: `${settings.model} on ${settings.task}: ${model.parameters.count().toLocaleString()} parameters${settings.threads > 1 ? `, ${settings.threads} threads` : ''}`,
  });
  let sequences = 0;
  let lastPoint = -Infinity;
  let lastSample = -Infinity;
  const start = performance.now();
  try {
    while (!cancelled()) {
      const result = trainer.trainStep(task.sample(rng, settings.batchSize));
      sequences += settings.batchSize;
      const now = performance.now();
      if (now - lastPoint >= POINT_EVERY_MS) {
        lastPoint = now;
        const errors = task.score(predict(model, evalBatch), evalBatch).bitErrorsPerSequence;
        post({
          type: 'progress',
          point: {
            sequences,
            bitsPerSequence: result.bitsPerSequence,
            bitErrorsPerSequence: errors,
          },
          sequencesPerSecond: (sequences / (now - start)) * 1000,
        });
      }
      if (now - lastSample >= SAMPLE_EVERY_MS) {
        lastSample = now;
        twin?.parameters.load(model.parameters.snapshot());
        const batch = pictureTask.sample(sampleRng, 1);
        post({ type: 'sample', sample: sampleView(twin ?? model, batch), sequences });
      }
      await yieldToEvents();
    }
  } finally {
    twin?.dispose();
    // The trainer stays (its state is saved with the model); its threads are not needed now.
    await trainer.close();
  }
  post({ type: 'stopped', sequences });
}

/** Row t of a [1, T, C] array as a [T][C] matrix. */
function matrix(values: Float32Array | number[], steps: number, width: number): Matrix {
  return Array.from({ length: steps }, (_, t) =>
    Array.from(values.slice(t * width, (t + 1) * width)),
  );
}

/** The model at work on one sequence: inputs, targets, outputs and the memory traces. */
function sampleView(model: RecurrentModel, batch: SequenceBatch): SampleView {
  const { steps, inputWidth, outputWidth } = batch;
  const outputs = predict(model, batch);
  const mask = Array.from(batch.mask.slice(0, steps));
  const targets = matrix(batch.targets, steps, outputWidth).map((row, t) =>
    mask[t] ? row : row.map(() => 0),
  );
  const traces: Record<string, Matrix> = {};
  let link: Matrix | undefined;
  tf.tidy(() => {
    const inputs = tf.tensor3d(batch.inputs, [1, steps, inputWidth]);
    const run = model.run(inputs, { trace: true });
    for (const [name, trace] of Object.entries(run.traces ?? {})) {
      // [1, T, heads, N] -> head 0; [1, T, N] as it is; other shapes are not pictures of slots.
      const head0 =
        trace.rank === 4
          ? trace.slice([0, 0, 0, 0], [1, steps, 1, trace.shape[3] ?? 0])
          : trace.rank === 3 && ['usage'].includes(name)
            ? trace
            : null;
      if (head0 === null || !['readWeights', 'writeWeights', 'usage'].includes(name)) continue;
      const slots = head0.shape[head0.rank - 1] ?? 0;
      traces[name] = matrix(head0.dataSync() as Float32Array, steps, slots);
    }
    const finalLink = findLink(finalState(model, inputs));
    if (finalLink) link = finalLink;
  });
  return {
    inputs: matrix(batch.inputs, steps, inputWidth),
    targets,
    outputs: matrix(outputs, steps, outputWidth).map((row, t) =>
      mask[t] ? row : row.map(() => 0),
    ),
    mask,
    traces,
    ...(link ? { link } : {}),
  };
}

/** The model's state after the whole sequence, stepping it one input at a time. */
function finalState(model: RecurrentModel, inputs: tf.Tensor3D): unknown {
  let state = model.initialState(1);
  for (const x of tf.unstack(inputs, 1) as tf.Tensor2D[]) state = model.step(x, state).state;
  return state;
}

/** The DNC's temporal link of head 0, [N][N], if the state holds one as a tensor. */
function findLink(state: unknown, depth = 0): Matrix | undefined {
  if (state === null || typeof state !== 'object' || depth > 4) return undefined;
  for (const [key, value] of Object.entries(state)) {
    if (key === 'link' && value instanceof tf.Tensor && value.rank === 4) {
      const n = value.shape[3] ?? 0;
      return matrix(value.slice([0, 0, 0, 0], [1, 1, n, n]).dataSync() as Float32Array, n, n);
    }
    const inner = value instanceof tf.Tensor ? undefined : findLink(value, depth + 1);
    if (inner) return inner;
  }
  return undefined;
}
