/**
 * Test helpers for memory schemes and models: finite-difference gradient checks, backend
 * parity and tensor-leak checks. Exported as `@mann/core/testing` so plugin authors can test
 * their own schemes the way the built-in ones are tested.
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendName } from './backend.js';
import { batchTensors, type SequenceBatch } from './data.js';
import type { RecurrentModel, RunOptions } from './interfaces.js';
import { maskedBitsPerSequence } from './training/loss.js';
import type { Rng } from './random.js';

/** Options of {@link gradientCheck}. */
export interface GradientCheckOptions {
  /** Finite-difference step (central differences, float32). Default 1e-2. */
  readonly delta?: number;
  /** Accepted |analytic - numeric| <= atol + rtol * |numeric|. Defaults 2e-3 and 2e-2. */
  readonly atol?: number;
  readonly rtol?: number;
  /** Check at most this many elements per input (spread evenly). Default 64. */
  readonly maxElements?: number;
}

/** Outcome of {@link gradientCheck}: the worst element found. */
export interface GradientCheckResult {
  readonly ok: boolean;
  readonly worst: {
    input: number;
    index: number;
    analytic: number;
    numeric: number;
    error: number;
  };
  readonly checked: number;
}

/**
 * Compares the analytic gradient of `f` (via tf.grads) against central finite differences
 * `(f(x + d e_i) - f(x - d e_i)) / 2d`, element by element. `f` must return a scalar and be
 * deterministic. Inputs are not modified.
 */
export function gradientCheck(
  f: (...inputs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  options: GradientCheckOptions = {},
): GradientCheckResult {
  const delta = options.delta ?? 1e-2;
  const atol = options.atol ?? 2e-3;
  const rtol = options.rtol ?? 2e-2;
  const maxElements = options.maxElements ?? 64;
  const analytic = tf.tidy(() =>
    tf
      .grads(f)(inputs)
      .map((g) => g.dataSync().slice()),
  );
  const values = inputs.map((x) => x.dataSync().slice() as Float32Array);
  const evaluate = (k: number, modified: Float32Array): number =>
    tf.tidy(() => {
      const args = inputs.map((x, j) => (j === k ? tf.tensor(modified, x.shape) : x));
      return f(...args).dataSync()[0] as number;
    });
  let worst = { input: -1, index: -1, analytic: 0, numeric: 0, error: -Infinity };
  let ok = true;
  let checked = 0;
  values.forEach((base, k) => {
    const stride = Math.max(1, Math.floor(base.length / maxElements));
    for (let i = 0; i < base.length; i += stride) {
      const plus = base.slice();
      const minus = base.slice();
      plus[i] = (base[i] as number) + delta;
      minus[i] = (base[i] as number) - delta;
      const numeric = (evaluate(k, plus) - evaluate(k, minus)) / (2 * delta);
      const a = (analytic[k] as Float32Array)[i] as number;
      const error = Math.abs(a - numeric) - rtol * Math.abs(numeric);
      if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) ok = false;
      if (error > worst.error || Number.isNaN(a))
        worst = { input: k, index: i, analytic: a, numeric, error };
      checked++;
    }
  });
  return { ok, worst, checked };
}

/** Runs `fn` on `backend` (a name of ours, or any registered backend), restoring the previous one afterwards. */
export async function withBackend<T>(
  backend: BackendName | (string & {}),
  fn: () => T | Promise<T>,
): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  await tf.ready();
  try {
    return await fn();
  } finally {
    if (previous && previous !== backend) {
      await tf.setBackend(previous);
      await tf.ready();
    }
  }
}

/**
 * Runs `fn` on the cpu backend (the reference) and on wasm, returning both results as plain
 * arrays: `fn` returns tensors, which are downloaded and disposed.
 */
export async function onCpuAndWasm(
  fn: () => tf.Tensor | tf.Tensor[],
): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const out = fn();
      return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync().slice() as Float32Array);
    });
  const cpu = await withBackend('cpu', run);
  const wasm = await withBackend('wasm', run);
  return { cpu, wasm };
}

/** Largest |a[i] - b[i]| (Infinity if lengths differ or a value is NaN). */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (Number.isNaN(d)) return Infinity;
    worst = Math.max(worst, d);
  }
  return worst;
}

/** How many tensors `fn` leaves allocated (0 when it cleans up after itself). */
export async function tensorsLeaked(fn: () => unknown | Promise<unknown>): Promise<number> {
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}

/**
 * A small copy-task batch for tests of memory models (docs/spec.md section 4; `@mann/tasks` has the
 * full task): L ~ U{minLength..maxLength}
 * random vectors of `bits` fair bits, a delimiter on channel `bits`, then L blank steps whose
 * targets are the vectors. Inputs [B, T, bits + 1], targets [B, T, bits], mask [B, T] with
 * T = 2 * (longest L) + 1.
 */
export function copyBatch(
  rng: Rng,
  batchSize: number,
  bits: number,
  minLength: number,
  maxLength: number,
): SequenceBatch {
  const lengths = Array.from({ length: batchSize }, () => rng.int(minLength, maxLength));
  const steps = 2 * Math.max(...lengths) + 1;
  const inputWidth = bits + 1;
  const inputs = new Float32Array(batchSize * steps * inputWidth);
  const targets = new Float32Array(batchSize * steps * bits);
  const mask = new Float32Array(batchSize * steps);
  lengths.forEach((length, b) => {
    for (let i = 0; i < length; i++) {
      for (let c = 0; c < bits; c++) {
        const bit = rng.bernoulli(0.5);
        inputs[(b * steps + i) * inputWidth + c] = bit;
        targets[(b * steps + length + 1 + i) * bits + c] = bit;
      }
      mask[b * steps + length + 1 + i] = 1;
    }
    inputs[(b * steps + length) * inputWidth + bits] = 1;
  });
  return { batchSize, steps, inputWidth, outputWidth: bits, inputs, targets, mask };
}

/**
 * Every parameter's values of `model`, flat, in `parameters.entries()` order: what
 * `RecurrentModel.lossAndGradientsOnArrays` reads (the training threads share them so).
 */
export function flatParameters(model: RecurrentModel): Float32Array {
  const entries = model.parameters.entries();
  const out = new Float32Array(entries.reduce((n, [, v]) => n + v.size, 0));
  let offset = 0;
  for (const [, v] of entries) {
    out.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
  return out;
}

/**
 * The reference for `RecurrentModel.lossAndGradientsOnArrays`: masked bits per sequence of
 * `model.run` on `batch` (with `runOptions`; the logits through `outputs` first when given) and
 * its gradient with respect to every trainable parameter, flat in `trainableEntries()` order
 * (zeros where the loss reaches none), by TF.js ops. Leaves no tensors.
 */
export function tfjsLossAndGradients(
  model: RecurrentModel,
  batch: SequenceBatch,
  options: { runOptions?: RunOptions; outputs?: (logits: tf.Tensor3D) => tf.Tensor3D } = {},
): { loss: number; gradient: Float32Array } {
  return tf.tidy(() => {
    const { inputs, targets, mask } = batchTensors(batch);
    const variables = model.parameters.trainableEntries().map(([, v]) => v);
    const { value, grads } = tf.variableGrads(() => {
      const { outputs } = model.run(inputs, options.runOptions);
      return maskedBitsPerSequence(options.outputs?.(outputs) ?? outputs, targets, mask);
    }, variables);
    const gradient = new Float32Array(variables.reduce((n, v) => n + v.size, 0));
    let offset = 0;
    for (const v of variables) {
      const g = grads[v.name];
      if (g) gradient.set(g.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    return { loss: value.dataSync()[0] as number, gradient };
  });
}

/**
 * `model.lossAndGradientsOnArrays` on `batch` beside its reference, {@link tfjsLossAndGradients}
 * (with `options`): both losses and gradients (the array path's gradient starts as NaN, so a
 * value it leaves unwritten shows), and how many tensors the array path left (it should make
 * none).
 */
export function arraysAgainstTfjs(
  model: RecurrentModel,
  batch: SequenceBatch,
  options: Parameters<typeof tfjsLossAndGradients>[2] = {},
): {
  loss: number | undefined;
  gradient: Float32Array;
  expected: { loss: number; gradient: Float32Array };
  tensorsLeft: number;
} {
  if (!model.lossAndGradientsOnArrays) throw new Error('the model has no lossAndGradientsOnArrays');
  const gradient = new Float32Array(model.parameters.count()).fill(Number.NaN);
  const before = tf.memory().numTensors;
  const loss = model.lossAndGradientsOnArrays(batch, flatParameters(model), gradient);
  const tensorsLeft = tf.memory().numTensors - before;
  return { loss, gradient, expected: tfjsLossAndGradients(model, batch, options), tensorsLeft };
}

/**
 * Registers a backend named `name` that wraps TF.js's cpu backend: a fresh instance of the cpu
 * backend's class with every cpu kernel registered under the new name. It stands in for a backend
 * mann has never seen (tfjs-node, a vendor's backend), to prove that the fused ops work on any
 * backend: they run through public TF.js calls and register their kernels for the active backend
 * by name. Idempotent per name; returns `name`.
 */
export async function registerStandInBackend(name = 'mann-stand-in'): Promise<string> {
  if (tf.findBackendFactory(name)) return name;
  const previous = tf.getBackend();
  await tf.setBackend('cpu');
  const Cpu = (tf.findBackend('cpu') as object).constructor as new () => tf.KernelBackend;
  tf.registerBackend(name, () => new Cpu());
  for (const kernel of tf.getKernelsForBackend('cpu')) {
    tf.registerKernel({ ...kernel, backendName: name });
  }
  if (previous) await tf.setBackend(previous);
  return name;
}
