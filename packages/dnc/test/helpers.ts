import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { Rng } from '@mann/core';
import { gradientCheck, maxAbsDifference, onCpuAndWasm, withBackend } from '@mann/core/testing';
import type { GradientCheckOptions } from '@mann/core/testing';

/** A seeded generator per test, so tests never share random state. */
export function rngFor(seed: number): Rng {
  return new Rng(seed);
}

/** `length` values uniform in [low, high). */
export function uniform(rng: Rng, length: number, low = 0, high = 1): Float32Array {
  return rng.fill(length, (r) => r.uniformIn(low, high));
}

/**
 * `rows` weightings over `slots`, each a softmax of normals (temperature 1/sharpness) scaled
 * by a total drawn in [minTotal, maxTotal]: rows sum to at most 1, like the DNC's weightings.
 */
export function weightings(
  rng: Rng,
  rows: number,
  slots: number,
  { sharpness = 1, minTotal = 0.2, maxTotal = 1 } = {},
): Float32Array {
  const out = new Float32Array(rows * slots);
  for (let row = 0; row < rows; row++) {
    const logits = Array.from({ length: slots }, () => sharpness * rng.normal());
    const top = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - top));
    const sum = exps.reduce((a, b) => a + b, 0);
    const total = rng.uniformIn(minTotal, maxTotal);
    exps.forEach((e, i) => (out[row * slots + i] = (total * e) / sum));
  }
  return out;
}

/**
 * `length` distinct values evenly spread over [0.05, 0.95], shuffled: usages whose sort order
 * a small finite-difference step cannot flip.
 */
export function separatedValues(rng: Rng, length: number): Float32Array {
  const values = Array.from({ length }, (_, i) => 0.05 + (0.9 * i) / Math.max(1, length - 1));
  for (let i = values.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [values[i], values[j]] = [values[j] as number, values[i] as number];
  }
  return Float32Array.from(values);
}

/** Expects |actual - expected| <= tol everywhere (and equal lengths, no NaN). */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol = 1e-5,
  label = '',
): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  const diff = maxAbsDifference(actual, expected);
  expect(diff, `${label} max |difference| = ${diff}`).toBeLessThanOrEqual(tol);
}

/**
 * Runs `fn` on cpu (the reference) and on wasm, expects every output to agree within `tol`
 * (wasm's `gather` with batchDims returns wrong values silently, so every result is
 * compared), and returns the cpu values.
 */
export async function onBothBackends(
  fn: () => tf.Tensor | tf.Tensor[],
  tol = 1e-5,
): Promise<Float32Array[]> {
  const { cpu, wasm } = await onCpuAndWasm(fn);
  expect(wasm.length).toBe(cpu.length);
  cpu.forEach((values, i) =>
    expectClose(wasm[i] as Float32Array, values, tol, `output ${i} wasm vs cpu`),
  );
  return cpu;
}

/** Plain nested arrays of a flat row-major array: shape [a, b, ...]. */
export function nest(values: ArrayLike<number>, shape: readonly number[]): NestedArray {
  if (shape.length === 1) return Array.from(values);
  const [first, ...rest] = shape as [number, ...number[]];
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: first }, (_, i) =>
    nest(Array.prototype.slice.call(values, i * size, (i + 1) * size) as number[], rest),
  );
}

/** A nested array of numbers. */
export type NestedArray = number[] | NestedArray[];

/** Row-major flattening of a nested array. */
export function flat(values: NestedArray): number[] {
  return (values as unknown[]).flat(Infinity) as number[];
}

/**
 * Finite-difference gradient check of `f` on cpu and on wasm (inputs made fresh on each
 * backend by `makeInputs`), then the analytic gradients of the two backends compared.
 */
export async function expectGradientsOnBothBackends(
  f: (...inputs: tf.Tensor[]) => tf.Scalar,
  makeInputs: () => tf.Tensor[],
  options: GradientCheckOptions = {},
): Promise<void> {
  for (const backend of ['cpu', 'wasm'] as const) {
    await withBackend(backend, () => {
      const inputs = makeInputs();
      const result = gradientCheck(f, inputs, options);
      inputs.forEach((t) => t.dispose());
      expect(result.ok, `${backend}: worst ${JSON.stringify(result.worst)}`).toBe(true);
    });
  }
  await onBothBackends(() => tf.grads(f)(makeInputs()), 1e-4);
}
