// The one place that picks the DNC's implementation (docs/architecture.md): the model and the
// memory scheme build through it; the reference files never import fused code.
import type { SequenceHook } from '@mann/core';
import { fusedSequenceHook } from '@mann/core/fused';
import { resolveDncMemoryConfig } from './config.js';
import type { DncMemoryConfig } from './config.js';
import { DncMemory } from './memory.js';
import { FusedDncMemory } from './fused/memory.js';
import { dncSequenceMemory } from './fused/sequence-memory.js';

/**
 * The DNC memory a config asks for: the composed reference ({@link DncMemory}) with
 * `implementation: 'composed'`, its fused subclass otherwise (the default). Both have the same
 * values and gradients; the fused one's link is resident (see `readLink`).
 */
export function createDncMemory(config: Partial<DncMemoryConfig> = {}): DncMemory {
  return resolveDncMemoryConfig(config).implementation === 'fused'
    ? new FusedDncMemory(config)
    : new DncMemory(config);
}

/** The whole-sequence hook of a fused DNC memory (core's `fusedSequence`); none otherwise. */
export function dncSequenceHook(memory: DncMemory): SequenceHook | undefined {
  return memory instanceof FusedDncMemory
    ? fusedSequenceHook(dncSequenceMemory(memory.fused))
    : undefined;
}
