// Public API of @mann/core.
export { Rng } from './random.js';
export type { RngState } from './random.js';
export {
  MannError,
  invalidArgument,
  checkInteger,
  checkNumber,
  checkChoice,
  checkShape,
} from './errors.js';
export {
  BACKENDS,
  BACKEND_ENV_VAR,
  NODE_BACKENDS,
  BROWSER_BACKENDS,
  isNode,
  selectBackend,
  currentBackend,
  describeBackend,
} from './backend.js';
export type { BackendName, BackendInfo, SelectBackendOptions } from './backend.js';
export { batchTensors, validateBatch } from './data.js';
export type { SequenceBatch, BatchTensors } from './data.js';
export { CONTENT_EPSILON, cosineSimilarity, contentWeights, assertFinite } from './math/content.js';
export { softplus, oneplus, stopGradient } from './math/activations.js';
export { exclusiveCumprod } from './math/cumprod.js';
export { repeatBatch } from './math/repeat.js';
export { circularShift } from './math/shift.js';
export { clipByGlobalNorm, clipByValue, globalNorm } from './math/clip.js';
export type { NamedTensors } from './math/clip.js';
export { maskedBitsPerSequence, scoreSequences } from './training/loss.js';
export type { SequenceScores } from './training/loss.js';
export { customGradient } from './math/custom-gradient.js';
export type { CustomGradientResult } from './math/custom-gradient.js';
export type {
  TensorTree,
  StepTrace,
  Controller,
  StepOptions,
  MemoryAccess,
  ModelConfig,
  ModelStepResult,
  RunOptions,
  RunResult,
  RecurrentModel,
  ParameterArrays,
} from './interfaces.js';
export { ParameterStore, withVariableFactory } from './params.js';
export type { Initializer, ParameterScope, ParameterOptions, VariableFactory } from './params.js';
export { withDefaults } from './config.js';
export { IMPLEMENTATIONS, DEFAULT_IMPLEMENTATION, rejectFusedOption } from './implementation.js';
export type { Implementation } from './implementation.js';
export { createLinear } from './nn/linear.js';
export type { Linear } from './nn/linear.js';
export {
  LSTM_INITS,
  DEFAULT_LSTM_INIT,
  createLstmLayer,
  lstmCell,
  lstmInputProjection,
  zeroLstmState,
} from './controllers/lstm.js';
export { LstmController, lstmLayerStep } from './controllers/lstm-controller.js';
export type { LstmInit, LstmLayer, LstmLayerState, LstmState } from './controllers/lstm.js';
export type { LstmOptions } from './controllers/lstm-controller.js';
export { lstmCellFused, lstmLayerSequence } from './fused/lstm-ops.js';
export type { LstmLayerTensors } from './fused/lstm-ops.js';
export { FeedforwardController, FEEDFORWARD_ACTIVATIONS } from './controllers/feedforward.js';
export type { FeedforwardActivation, FeedforwardState } from './controllers/feedforward.js';
export {
  CONTROLLER_KINDS,
  DEFAULT_CONTROLLER,
  resolveControllerConfig,
  createController,
} from './controllers/config.js';
export type { ControllerConfig } from './controllers/config.js';
export {
  registerModel,
  registerMemory,
  listModels,
  listMemories,
  getModelDefinition,
  getMemoryDefinition,
  createModel,
} from './registry.js';
export type { ModelDefinition, MemoryDefinition, CreateModelOptions } from './registry.js';
export { runSteps } from './models/run.js';
export type { StepFunction } from './models/run.js';
export {
  MemoryNetwork,
  buildMemoryNetwork,
  memoryNetworkDefinition,
  DEFAULT_CLIP_VALUE,
} from './models/memory-network.js';
export type {
  MemoryNetworkState,
  MemoryNetworkParts,
  SequenceHook,
  MemoryNetworkConfig,
} from './models/memory-network.js';
export {
  LstmModel,
  lstmModelDefinition,
  DEFAULT_LSTM_HIDDEN_SIZES,
} from './models/lstm-baseline.js';
export type { LstmModelConfig } from './models/lstm-baseline.js';

import { registerModel } from './registry.js';
import { lstmModelDefinition } from './models/lstm-baseline.js';
import { memoryNetworkDefinition } from './models/memory-network.js';
// Built-in model types. Importing anything from this package registers them.
registerModel(lstmModelDefinition);
registerModel(memoryNetworkDefinition);
export { tidy } from './math/tidy.js';
export { Optimizer, EPSILON_PLACEMENTS } from './training/optimizers.js';
export type {
  EpsilonPlacement,
  OptimizerConfig,
  AdamConfig,
  RmspropConfig,
  OptimizerState,
  OptimizerImplementation,
} from './training/optimizers.js';
export {
  Trainer,
  predict,
  DEFAULT_CLIP_NORM,
  DEFAULT_MAX_BAD_STEPS,
  MAX_TRAINING_THREADS,
  trainingThreadsFor,
} from './training/trainer.js';
export type {
  TrainerOptions,
  ThreadOptions,
  ResolvedTrainerOptions,
  TrainStepResult,
  TrainerState,
} from './training/trainer.js';
export { serveTrainingThread } from './training/thread-serve.js';
export type { TrainingThreadOptions } from './training/thread-serve.js';
export type { ThreadWorker, WorkerScript } from './training/threads.js';
export {
  saveCheckpoint,
  encodeCheckpoint,
  decodeCheckpoint,
  loadCheckpoint,
  restoreCheckpoint,
  CHECKPOINT_FORMAT_VERSION,
} from './training/checkpoint.js';
export type { Checkpoint, CheckpointContents } from './training/checkpoint.js';
export { TrainingSession } from './training/session.js';
export type { BatchSource, TrainingSessionOptions } from './training/session.js';
export { MannLayer } from './layers/memory-layer.js';
export type { LayerArgs, MannLayerArgs, MannLayerOptions } from './layers/memory-layer.js';
export { buildModelAsWeights } from './layers/model-weights.js';
export type { AddWeight, WeightInitializer } from './layers/model-weights.js';
export {
  flattenState,
  unflattenState,
  stateStructure,
  tensorsOnly,
  STATE_LEAF,
} from './layers/state-tree.js';
export type { StateToTensors } from './layers/state-tree.js';
export { layersModelFiles, MODEL_JSON, WEIGHTS_BIN } from './layers/file-io.js';
export { registerLayerType, createLayer } from './layers/layer-registry.js';
export type { LayerFactory } from './layers/layer-registry.js';
export { checkpointToLayersModel, EXPORT_METADATA_KEY } from './layers/export.js';
export type { ExportMetadata } from './layers/export.js';
export { MannCell } from './layers/memory-cell.js';
export type { MannCellArgs } from './layers/memory-cell.js';
export { parseMannArgs, withModelType } from './layers/memory-layer.js';
export type { ParsedMannArgs } from './layers/memory-layer.js';
