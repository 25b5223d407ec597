import { MannError } from './errors.js';

// The one switch between a model's fast path and its reference, shared by the LSTM baseline
// and controller here and by the NTM and DNC. This module holds no fused code, so reference
// code may import it.

/**
 * How a model computes: `fused` runs the fast path (ops with hand-written gradients that
 * compute on typed arrays, `@mann/core/fused`), `composed` the reference built from TF.js ops.
 * Both give the same values and gradients; the tests hold every fast path to its reference.
 */
export const IMPLEMENTATIONS = ['fused', 'composed'] as const;
/** One of {@link IMPLEMENTATIONS}. */
export type Implementation = (typeof IMPLEMENTATIONS)[number];
/** The fast path. */
export const DEFAULT_IMPLEMENTATION: Implementation = 'fused';

/**
 * Throws when `given` (a config or options object) still carries the LSTM's former boolean
 * `fused` option, which `implementation` replaced; `where` names the object in the message.
 */
export function rejectFusedOption(where: string, given: object | undefined): void {
  if (given === undefined || given === null || !Object.hasOwn(given, 'fused')) return;
  const value = (given as { fused?: unknown }).fused;
  throw new MannError(
    `${where}: the option 'fused' (got ${JSON.stringify(value)}) was renamed; use ` +
      `implementation: 'fused' | 'composed' (fused: true is 'fused', false is 'composed')`,
  );
}

/**
 * The model config of a checkpoint written before `fused` was renamed: a boolean `fused` at
 * the top level becomes `implementation` (`true` to 'fused', `false` to 'composed'), so such
 * checkpoints still load. Any other config comes back unchanged (the same object).
 */
export function migrateFusedOption<T extends object>(config: T): T {
  if (!Object.hasOwn(config, 'fused')) return config;
  const { fused, ...rest } = config as T & { fused?: unknown };
  if (typeof fused !== 'boolean') return config;
  if (Object.hasOwn(rest, 'implementation')) {
    throw new MannError(
      `checkpoint model config has both 'fused' (${fused}) and 'implementation' ` +
        `(${JSON.stringify((rest as { implementation?: unknown }).implementation)}); keep one`,
    );
  }
  return { ...rest, implementation: fused ? 'fused' : 'composed' } as T;
}
