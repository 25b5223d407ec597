import { MannError } from './errors.js';

/**
 * Merges `given` over `defaults`, rejecting keys that `defaults` does not have (with the list
 * of valid keys), so a misspelt option never passes silently.
 *
 * @param what - what is being configured, for the error ("ntm config")
 */
export function withDefaults<T extends object>(
  what: string,
  defaults: T,
  given: Partial<T> | undefined,
): T {
  const valid = Object.keys(defaults);
  for (const key of Object.keys(given ?? {})) {
    if (!valid.includes(key)) {
      throw new MannError(`unknown ${what} option '${key}'; valid options: ${valid.join(', ')}`);
    }
  }
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(given ?? {})) if (value !== undefined) out[key] = value;
  return out as T;
}
