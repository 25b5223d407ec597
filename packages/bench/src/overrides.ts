import { MannError } from '@mann/core';

/** `--set` overrides split by target. */
export interface Overrides {
  readonly model: Record<string, unknown>;
  readonly task: Record<string, unknown>;
  readonly train: Record<string, unknown>;
}

const TARGETS = ['model', 'task', 'train'] as const;

/**
 * Parses a value as JSON (numbers, booleans, arrays, objects, quoted strings); a bare word
 * (`feedforward`) is kept as a string. Text that starts like JSON (`[`, `{`, `"`, a digit or a
 * sign) but does not parse is an error rather than a string nobody meant.
 */
export function parseValue(text: string, where = 'value'): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (/^[[{"\d+-]/.test(text)) {
      throw new MannError(
        `${where}: '${text}' is not valid JSON (${(error as Error).message}); write a string as a bare word or in double quotes`,
      );
    }
    return text;
  }
}

/**
 * Parses `--set` pairs: `model.<key>=<value>`, `task.<key>=<value>`, `train.<key>=<value>`;
 * dotted keys nest (`model.controller.hiddenSizes=[64,64]`). Values are JSON where they parse.
 */
export function parseOverrides(pairs: readonly string[]): Overrides {
  const out: Overrides = { model: {}, task: {}, train: {} };
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const path = at < 0 ? [] : pair.slice(0, at).trim().split('.');
    const [target, ...keys] = path;
    if (at < 0 || !target || keys.length === 0 || keys.some((k) => k === '')) {
      throw new MannError(
        `--set must be <target>.<key>=<value> with target ${TARGETS.join(', ')}; got '${pair}'`,
      );
    }
    if (!(TARGETS as readonly string[]).includes(target)) {
      throw new MannError(
        `--set '${pair}': unknown target '${target}'; valid targets: ${TARGETS.join(', ')}`,
      );
    }
    let node = out[target as (typeof TARGETS)[number]];
    for (const key of keys.slice(0, -1)) {
      const child = node[key];
      if (child === undefined) node = node[key] = {};
      else if (child && typeof child === 'object' && !Array.isArray(child))
        node = child as Record<string, unknown>;
      else throw new MannError(`--set '${pair}': '${key}' is already set to a value`);
    }
    const last = keys[keys.length - 1] as string;
    if (Object.hasOwn(node, last))
      throw new MannError(`--set '${pair}': ${target}.${keys.join('.')} is set twice`);
    node[last] = parseValue(pair.slice(at + 1).trim(), `--set '${pair}'`);
  }
  return out;
}
