// Public API of @mann/ntm. Importing it registers the model type 'ntm' and the memory type 'ntm'.
import { registerLayerType, registerMemory, registerModel } from '@mann/core';
import { ntmDefinition, ntmMemoryDefinition } from './model.js';
import { NtmLayer } from './layer.js';

export { interpolate, shiftWeights, sharpen, addressHeads, SHARPEN_EPSILON } from './addressing.js';
export type { Addressing } from './addressing.js';
export { readMemory, writeMemory } from './memory-ops.js';
export { headLayout, interfaceSize, splitInterface } from './heads.js';
export type { HeadLayout, HeadParameters, HeadActivations } from './heads.js';
export { NtmMemory } from './memory.js';
export type { NtmState, NtmStepOptions, NtmStepResult } from './memory.js';
export { createNtmMemory } from './implementation.js';
export {
  KEY_ACTIVATIONS,
  STRENGTH_ACTIVATIONS,
  MEMORY_INITS,
  WEIGHTING_INITS,
  READ_INITS,
  IMPLEMENTATIONS,
  DEFAULT_MEMORY_SLOTS,
  DEFAULT_MEMORY_WIDTH,
  DEFAULT_READ_HEADS,
  DEFAULT_WRITE_HEADS,
  DEFAULT_SHIFT_RANGE,
  DEFAULT_KEY_ACTIVATION,
  DEFAULT_STRENGTH_ACTIVATION,
  DEFAULT_MEMORY_INIT,
  DEFAULT_MEMORY_INIT_VALUE,
  DEFAULT_INITIAL_WEIGHTING,
  DEFAULT_INITIAL_READS,
  DEFAULT_TRACE_ADDRESSING,
  DEFAULT_IMPLEMENTATION,
  DEFAULT_NTM_MEMORY_CONFIG,
  resolveNtmConfig,
  resolveNtmMemoryConfig,
} from './config.js';
export type {
  NtmConfig,
  NtmMemoryConfig,
  NtmOptions,
  KeyActivation,
  StrengthActivation,
  MemoryInit,
  WeightingInit,
  ReadInit,
  Implementation,
} from './config.js';
export { ntmDefinition, ntmMemoryDefinition, createNtm } from './model.js';
export type { NtmModel } from './model.js';

registerModel(ntmDefinition);
registerMemory(ntmMemoryDefinition);
export { NtmCell, ntmCell, NtmLayer, ntmLayer } from './layer.js';
export type { NtmCellArgs, NtmLayerArgs } from './layer.js';
registerLayerType('ntm', (args) => new NtmLayer(args));
