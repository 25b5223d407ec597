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

/** The plugin entry point of this module: training threads import it to get the NTM and DNC. */
export const register = registerBuiltins;

/**
 * Modules a training thread imports (`TrainerOptions.workerModules`): this one (the NTM and DNC)
 * and the plugins. From the TypeScript sources, the compiled copy in `dist/`.
 */
export function threadModules(plugins: readonly string[]): string[] {
  const self = import.meta.url.endsWith('.ts')
    ? import.meta.url.replace(/\/src\/builtins\.ts$/, '/dist/builtins.js')
    : import.meta.url;
  return [self, ...plugins];
}
