import { createController, createModel, ParameterStore, registerModel } from '@mann/core';
import type { CreateModelOptions, MemoryDefinition, ModelDefinition } from '@mann/core';
import { memoryConfigOf, resolveNtmConfig, resolveNtmMemoryConfig } from './config.js';
import type { NtmConfig, NtmMemoryConfig, NtmOptions } from './config.js';
import { NtmMemory } from './memory.js';
import { NtmNetwork } from './network.js';

/**
 * An NTM: core's `MemoryNetwork` wiring (controller, interface layer, output layer) with an
 * {@link NtmMemory}, as an {@link NtmNetwork}. `h_t = controller([x_t ; r_{t-1}])`,
 * interface = Linear(clip(h_t)), `r_t` from the memory, `y_t = Linear([clip(h_t) ; r_t])`.
 */
export type NtmModel = NtmNetwork;

/** Registry entry of the NTM model, `createModel({ type: 'ntm', inputSize, outputSize, ... })`. */
export const ntmDefinition: ModelDefinition<NtmConfig> = {
  type: 'ntm',
  description:
    'Neural Turing Machine (Graves et al. 2014): a controller with NTM read and write heads',
  resolveConfig: (given) => resolveNtmConfig(given),
  create(config, rng) {
    // as core's buildMemoryNetwork (same parameters, drawn in the same order), but an NtmNetwork
    const parameters = new ParameterStore(rng);
    try {
      const memory = new NtmMemory(memoryConfigOf(config), parameters.scope('memory'));
      const controller = createController(
        parameters.scope('controller'),
        config.inputSize + memory.readSize,
        config.controller,
      );
      return new NtmNetwork({
        config,
        parameters,
        controller,
        memory,
        clipValue: config.clipValue,
      });
    } catch (error) {
      parameters.dispose();
      throw error;
    }
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
  create: (config, scope) => new NtmMemory(config, scope),
};

/**
 * Builds an NTM from options (defaults: the paper's copy configuration) with parameters drawn
 * from `options.seed` (default 0) or `options.rng`. Same as `createModel({ type: 'ntm', ... })`.
 */
export function createNtm(config: NtmOptions, options: CreateModelOptions = {}): NtmModel {
  registerModel(ntmDefinition);
  return createModel({ ...config, type: 'ntm' }, options) as NtmModel;
}
