import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MannError } from '@mann/core';

/**
 * Imports plugin modules (paths or package names). A plugin registers its models, memory
 * schemes or tasks with the core and task registries when imported, or exports a `register()`
 * function that does so, which is then called.
 */
export async function loadPlugins(specifiers: readonly string[]): Promise<void> {
  for (const specifier of specifiers) {
    const looksLikePath =
      specifier.startsWith('.') || isAbsolute(specifier) || /\.(m?js|cjs)$/.test(specifier);
    const target = looksLikePath ? pathToFileURL(resolve(specifier)).href : specifier;
    let module: { register?: unknown; default?: { register?: unknown } };
    try {
      module = (await import(target)) as typeof module;
    } catch (error) {
      throw new MannError(`cannot load plugin '${specifier}': ${(error as Error).message}`);
    }
    const register = module.register ?? module.default?.register;
    if (typeof register !== 'function') continue;
    try {
      await (register as () => unknown)();
    } catch (error) {
      throw new MannError(
        `plugin '${specifier}' failed in register(): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
