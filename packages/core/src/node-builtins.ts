import { MannError } from './errors.js';

/**
 * A Node built-in module (`node:fs/promises`, `node:worker_threads`, ...) taken at call time
 * with `process.getBuiltinModule` (Node >= 20.16) instead of an import, so that no module on the
 * main entry of `@mann/core` imports a Node built-in and the package bundles for the browser.
 * Elsewhere it throws a MannError saying that `what` needs Node and, if given, what to use instead.
 */
export function nodeBuiltin<T>(id: `node:${string}`, what: string, instead?: string): T {
  const getBuiltin = globalThis.process?.getBuiltinModule;
  if (typeof getBuiltin !== 'function') {
    throw new MannError(
      `${what} needs Node >= 20.16 (${id})${instead ? `; elsewhere ${instead}` : ''}`,
    );
  }
  return getBuiltin(id) as T;
}
