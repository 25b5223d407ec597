import { MannError } from '@mann/core';

/** An integer parameter in [min, max]. */
export interface IntParamSpec {
  readonly type: 'int';
  readonly min: number;
  readonly max: number;
  readonly doc: string;
}

/** A finite real parameter in [min, max]. */
export interface NumberParamSpec {
  readonly type: 'number';
  readonly min: number;
  readonly max: number;
  readonly doc: string;
}

/** A boolean parameter; from a string: true/false, 1/0, yes/no. */
export interface BooleanParamSpec {
  readonly type: 'boolean';
  readonly doc: string;
}

/** A free-form string parameter (a path, a list the task parses itself). */
export interface StringParamSpec {
  readonly type: 'string';
  readonly doc: string;
}

/** A string parameter restricted to `choices`. */
export interface ChoiceParamSpec {
  readonly type: 'choice';
  readonly choices: readonly string[];
  readonly doc: string;
}

/** How one task parameter is typed, bounded and documented. */
export type ParamSpec =
  IntParamSpec | NumberParamSpec | BooleanParamSpec | StringParamSpec | ChoiceParamSpec;

/** One {@link ParamSpec} per key of the params object `P`. */
export type ParamSpecs<P> = { readonly [K in keyof P]-?: ParamSpec };

/** `{ type: 'int', min, max, doc }` */
export function intParam(min: number, max: number, doc: string): IntParamSpec {
  return { type: 'int', min, max, doc };
}

/** `{ type: 'number', min, max, doc }` */
export function numberParam(min: number, max: number, doc: string): NumberParamSpec {
  return { type: 'number', min, max, doc };
}

/** `{ type: 'boolean', doc }` */
export function booleanParam(doc: string): BooleanParamSpec {
  return { type: 'boolean', doc };
}

/** `{ type: 'string', doc }` */
export function stringParam(doc: string): StringParamSpec {
  return { type: 'string', doc };
}

/** `{ type: 'choice', choices, doc }` */
export function choiceParam(choices: readonly string[], doc: string): ChoiceParamSpec {
  return { type: 'choice', choices, doc };
}

/** The accepted values of a spec, as shown in error messages: "an integer in [1, 64]". */
export function describeSpec(spec: ParamSpec): string {
  switch (spec.type) {
    case 'int':
      return `an integer in [${spec.min}, ${spec.max}]`;
    case 'number':
      return `a number in [${spec.min}, ${spec.max}]`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'choice':
      return `one of ${spec.choices.join(', ')}`;
  }
}

/** One line per parameter: `name: <accepted values> (default <d>) - doc`. */
export function describeParams(specs: ParamSpecs<object>, defaults: object): string {
  const values = defaults as Record<string, unknown>;
  return Object.entries(specs as Record<string, ParamSpec>)
    .map(
      ([key, spec]) =>
        `  ${key}: ${describeSpec(spec)} (default ${JSON.stringify(values[key])}) - ${spec.doc}`,
    )
    .join('\n');
}

function fail(task: string, key: string, value: unknown, spec: ParamSpec): MannError {
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return new MannError(
    `parameter '${key}' of task '${task}' must be ${describeSpec(spec)}, got ${shown}`,
  );
}

/**
 * Converts a command-line string to the parameter's type, or returns a non-string value as is.
 * Integers accept an optional sign and digits only ("1e3" and "2.0" are rejected).
 */
export function parseParamValue(
  task: string,
  key: string,
  value: unknown,
  spec: ParamSpec,
): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  switch (spec.type) {
    case 'int':
      if (!/^[+-]?\d+$/.test(text)) throw fail(task, key, value, spec);
      return Number(text);
    case 'number': {
      const parsed = text === '' ? NaN : Number(text);
      if (!Number.isFinite(parsed)) throw fail(task, key, value, spec);
      return parsed;
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (['true', '1', 'yes'].includes(lower)) return true;
      if (['false', '0', 'no'].includes(lower)) return false;
      throw fail(task, key, value, spec);
    }
    case 'string':
      return value;
    case 'choice':
      return text;
  }
}

/** Checks one typed value against its spec; throws a {@link MannError} naming key, value and range. */
export function checkParamValue(task: string, key: string, value: unknown, spec: ParamSpec): void {
  let ok: boolean;
  switch (spec.type) {
    case 'int':
      ok =
        typeof value === 'number' &&
        Number.isInteger(value) &&
        value >= spec.min &&
        value <= spec.max;
      break;
    case 'number':
      ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        value >= spec.min &&
        value <= spec.max;
      break;
    case 'boolean':
      ok = typeof value === 'boolean';
      break;
    case 'string':
      ok = typeof value === 'string';
      break;
    case 'choice':
      ok = typeof value === 'string' && spec.choices.includes(value);
      break;
  }
  if (!ok) throw fail(task, key, value, spec);
}

/**
 * Merges `overrides` (typed values, or strings as a command line gives them) into `defaults`,
 * parses strings to each parameter's type and validates every value.
 *
 * @throws MannError for an unknown key (listing every valid key with its range and default) or a
 *   value of the wrong type or out of range (naming the key, the value and the accepted range).
 */
export function resolveParams<P extends object>(
  task: string,
  specs: ParamSpecs<P>,
  defaults: P,
  overrides: Readonly<Record<string, unknown>> = {},
): P {
  const specTable = specs as Record<string, ParamSpec>;
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(overrides)) {
    const spec = specTable[key];
    if (!spec) {
      throw new MannError(
        `unknown parameter '${key}' for task '${task}'; valid parameters:\n${describeParams(specs, defaults)}`,
      );
    }
    if (value === undefined) continue;
    merged[key] = parseParamValue(task, key, value, spec);
  }
  checkParams(task, specs, merged);
  return merged as P;
}

/** Checks that `params` has exactly the keys of `specs` and every value fits its spec. */
export function checkParams(task: string, specs: ParamSpecs<object>, params: object): void {
  const specTable = specs as Record<string, ParamSpec>;
  const values = params as Record<string, unknown>;
  for (const key of Object.keys(values)) {
    if (!specTable[key]) {
      throw new MannError(
        `unknown parameter '${key}' for task '${task}'; valid parameters: ${Object.keys(specTable).join(', ')}`,
      );
    }
  }
  for (const [key, spec] of Object.entries(specTable)) {
    if (!(key in values)) {
      throw new MannError(`task '${task}' is missing parameter '${key}' (${describeSpec(spec)})`);
    }
    checkParamValue(task, key, values[key], spec);
  }
}

/**
 * Parses `key=value` pairs as a command line gives them (`['maxLength=30', 'bits=6']`) into a
 * string record for {@link createTask}. Values may contain `=`; keys must be non-empty and unique.
 */
export function parseOverrides(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = at < 0 ? '' : pair.slice(0, at).trim();
    if (at < 0 || key === '') {
      throw new MannError(`override must be key=value, got '${pair}'`);
    }
    if (Object.hasOwn(out, key)) {
      throw new MannError(
        `override '${key}' is given twice ('${out[key]}' and '${pair.slice(at + 1)}')`,
      );
    }
    out[key] = pair.slice(at + 1).trim();
  }
  return out;
}
