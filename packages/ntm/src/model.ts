import { buildMemoryNetwork, createModel, registerModel } from '@mann/core';
import type {
  CreateModelOptions,
  MemoryDefinition,
  MemoryNetwork,
  ModelDefinition,
} from '@mann/core';
import { memoryConfigOf, resolveNtmConfig, resolveNtmMemoryConfig } from './config.js';
import type { NtmConfig, NtmMemoryConfig, NtmOptions } from './config.js';
import type { NtmMemory } from './memory.js';
import { createNtmMemory, ntmSequenceHook } from './implementation.js';

/**
 * An NTM: core's `MemoryNetwork` wiring (controller, interface layer, output layer) with an
 * {@link NtmMemory}. `h_t = controller([x_t ; r_{t-1}])`, interface = Linear(clip(h_t)),
 * `r_t` from the memory, `y_t = Linear([clip(h_t) ; r_t])`.
 *
 * With `implementation: 'fused'` and a one-layer LSTM controller, `run` without traces
 * computes the whole sequence as one op with a hand-written gradient (core's `fusedSequence`
 * around the fused memory step, `fused/sequence-memory.ts`; `implementation.ts` picks): the same values and gradients as
 * the step-by-step loop, with no kernel per time step. Other controllers,
 * `implementation: 'composed'` and traced runs take the step loop (with the fused memory step
 * unless composed); `step` always does.
 */
export type NtmModel = MemoryNetwork & {
  readonly config: NtmConfig;
  readonly memory: NtmMemory;
};

/** Registry entry of the NTM model, `createModel({ type: 'ntm', inputSize, outputSize, ... })`. */
export const ntmDefinition: ModelDefinition<NtmConfig> = {
  type: 'ntm',
  description:
    'Neural Turing Machine (Graves et al. 2014): a controller with NTM read and write heads',
  resolveConfig: (given) => resolveNtmConfig(given),
  create(config, rng) {
    const memoryConfig = memoryConfigOf(config);
    return buildMemoryNetwork(
      config,
      config.controller,
      config.clipValue,
      rng,
      (scope) => createNtmMemory(memoryConfig, scope),
      (memory) => ntmSequenceHook(memory as NtmMemory),
    );
  },
};

/**
 * Registry entry of the NTM memory scheme, for the generic memory network:
 * `createModel({ type: 'memory', inputSize, outputSize, memory: { type: 'ntm', ... } })`.
 */
export const ntmMemoryDefinition: MemoryDefinition<NtmMemoryConfig> = {
  type: 'ntm',
  description: 'NTM memory: content + location addressing, read heads and erase/add write heads',
  resolveConfig: (given) => resolveNtmMemoryConfig(given as Partial<NtmMemoryConfig>),
  create: (config, scope) => createNtmMemory(config, scope),
};

/**
 * Builds an NTM from options (defaults: the paper's copy configuration) with parameters drawn
 * from `options.seed` (default 0) or `options.rng`. Same as `createModel({ type: 'ntm', ... })`.
 */
export function createNtm(config: NtmOptions, options: CreateModelOptions = {}): NtmModel {
  registerModel(ntmDefinition);
  return createModel({ ...config, type: 'ntm' }, options) as NtmModel;
}
