// Public API of @mann/dnc. Importing it registers the model type 'dnc' and the memory type 'dnc'.
import { registerLayerType, registerMemory, registerModel } from '@mann/core';
import { dncDefinition, dncMemoryDefinition } from './model.js';
import { DncLayer } from './layer.js';

export { retentionVector, usageAfterWrite, updateUsage } from './usage.js';
export {
  ALLOCATION_EPSILON,
  ALLOCATION_PERMUTATIONS,
  allocationWeighting,
  writeAllocationWeightings,
} from './allocation.js';
export type { AllocationOptions } from './allocation.js';
export { updatePrecedence, updateTemporalLink, directionalWeights } from './temporal-link.js';
export {
  initialSparseLink,
  isSparseLink,
  keepLargest,
  updateSparseLink,
  sparseDirectionalWeights,
  sparseLinkToDense,
} from './sparse-link.js';
export type { SparseLink } from './sparse-link.js';
export { SHARPNESS_EPSILON, sharpenLinkWeights } from './sharpness.js';
export { writeWeighting, eraseAndWrite } from './write.js';
export { readWeighting, readVectors } from './read.js';
export { interfaceLayout, interfaceSize, parseInterface } from './interface.js';
export type { DncInterface, InterfaceField, InterfaceActivation } from './interface.js';
export { DncMemory } from './memory.js';
export type { DncStepResult } from './memory.js';
export { createDncMemory } from './implementation.js';
export { isResidentLink, readLink } from './fused/resident-link.js';
export type { DncState, TemporalLink } from './state.js';
export {
  DEFAULT_MEMORY_SLOTS,
  DEFAULT_MEMORY_WIDTH,
  DEFAULT_READ_HEADS,
  DEFAULT_WRITE_HEADS,
  DEFAULT_SPARSE_LINK_K,
  DEFAULT_OUTPUT_CLIP_VALUE,
  DEFAULT_DNC_MEMORY_CONFIG,
  DEFAULT_IMPLEMENTATION,
  DNC_IMPLEMENTATIONS,
  resolveDncConfig,
  resolveDncMemoryConfig,
} from './config.js';
export type { DncConfig, DncImplementation, DncMemoryConfig, DncOptions } from './config.js';
export { DncModel, dncDefinition, dncMemoryDefinition, createDnc } from './model.js';
export type { DncModelState } from './model.js';

registerModel(dncDefinition);
registerMemory(dncMemoryDefinition);
export { DncCell, dncCell, DncLayer, dncLayer, dncStateTensors } from './layer.js';
export type { DncCellArgs, DncLayerArgs } from './layer.js';
registerLayerType('dnc', (args) => new DncLayer(args));
