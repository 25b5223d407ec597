import type * as tf from '@tensorflow/tfjs';

/** Thrown for bad input: names the argument, the offending value and what is accepted. */
export class MannError extends Error {
  override name = 'MannError';
}

/** `name must be <expected>, got <value>` */
export function invalidArgument(name: string, value: unknown, expected: string): MannError {
  const shown =
    typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value);
  return new MannError(`${name} must be ${expected}, got ${shown}`);
}

/** Checks that `value` is an integer in [min, max]; returns it. */
export function checkInteger(
  name: string,
  value: unknown,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw invalidArgument(name, value, `an integer ${range}`);
  }
  return value;
}

/** Checks that `value` is a finite number in [min, max]; returns it. */
export function checkNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidArgument(name, value, `a finite number in [${min}, ${max}]`);
  }
  return value;
}

/** Checks that `value` is one of `choices`; returns it. */
export function checkChoice<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw invalidArgument(name, value, `one of ${choices.join(', ')}`);
  }
  return value as T;
}

/**
 * Checks that `tensor` is a live tf.Tensor (of `dtype`, if given) whose shape matches `expected`
 * (a number must match, `null` matches any size). The error names the argument and what it got:
 * "memory must be rank 3 [B, N, W], got [4, 20]", "inputs must be a tf.Tensor ..., got a plain Array".
 */
export function checkShape(
  name: string,
  tensor: tf.Tensor,
  expected: readonly (number | null)[],
  description = '',
  dtype?: tf.DataType,
): void {
  const label = description ? ` ${description}` : '';
  const value = tensor as unknown;
  if (
    value === null ||
    typeof value !== 'object' ||
    !Array.isArray((value as tf.Tensor).shape) ||
    typeof (value as tf.Tensor).dtype !== 'string'
  ) {
    const got =
      value === null
        ? 'null'
        : Array.isArray(value)
          ? 'a plain Array'
          : typeof value === 'object'
            ? `an instance of ${(value as object).constructor?.name ?? 'Object'}`
            : String(value);
    throw new MannError(`${name} must be a tf.Tensor${label}, got ${got}`);
  }
  if (tensor.isDisposed) throw new MannError(`${name} is a disposed tensor`);
  if (dtype !== undefined && tensor.dtype !== dtype) {
    throw new MannError(`${name} must have dtype ${dtype}, got ${tensor.dtype}`);
  }
  const shape = tensor.shape;
  if (shape.length !== expected.length) {
    throw new MannError(
      `${name} must be rank ${expected.length}${label}, got [${shape.join(', ')}]`,
    );
  }
  expected.forEach((size, axis) => {
    if (size !== null && shape[axis] !== size) {
      throw new MannError(
        `${name} must have shape [${expected.map((s) => (s === null ? '*' : s)).join(', ')}]${label}, got [${shape.join(', ')}]`,
      );
    }
  });
}
