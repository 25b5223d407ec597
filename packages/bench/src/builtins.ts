import { registerMemory, registerModel } from '@mann/core';
import { ntmDefinition, ntmMemoryDefinition } from '@mann/ntm';
import { dncDefinition, dncMemoryDefinition } from '@mann/dnc';

/** Registers the NTM and DNC with the core registries (idempotent). */
export function registerBuiltins(): void {
  registerModel(ntmDefinition);
  registerMemory(ntmMemoryDefinition);
  registerModel(dncDefinition);
  registerMemory(dncMemoryDefinition);
}
