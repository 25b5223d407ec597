// The one place that picks the NTM's implementation (docs/architecture.md): the model and the
// memory scheme build through it; the reference files never import fused code.
import type { ParameterScope, SequenceHook } from '@mann/core';
import { fusedSequenceHook } from '@mann/core/fused';
import type { NtmMemoryConfig } from './config.js';
import { NtmMemory } from './memory.js';
import { FusedNtmMemory } from './fused/memory.js';
import { memoryStepSpec } from './fused/memory-step.js';
import { ntmSequenceMemory } from './fused/sequence-memory.js';
import { ntmInitialArrays } from './fused/initial-arrays.js';

/**
 * The NTM memory a config asks for: the composed reference ({@link NtmMemory}) with
 * `implementation: 'composed'`, its fused subclass otherwise. Both have the same parameters,
 * drawn in the same order, and the same values and gradients.
 */
export function createNtmMemory(config: NtmMemoryConfig, scope: ParameterScope): NtmMemory {
  return config.implementation === 'fused'
    ? new FusedNtmMemory(config, scope)
    : new NtmMemory(config, scope);
}

/**
 * The whole-sequence hook of a fused NTM memory (core's `fusedSequence`, and its loss and
 * gradients on arrays for the training threads); none when composed.
 */
export function ntmSequenceHook(memory: NtmMemory): SequenceHook | undefined {
  const { config } = memory;
  return config.implementation === 'fused'
    ? fusedSequenceHook(
        ntmSequenceMemory(memoryStepSpec(config), (batch, parameters) =>
          ntmInitialArrays(memory, batch, parameters),
        ),
      )
    : undefined;
}
