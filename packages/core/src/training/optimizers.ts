import * as tf from '@tensorflow/tfjs';
import { checkChoice, checkNumber, invalidArgument, MannError } from '../errors.js';
import type { NamedTensors } from '../math/clip.js';
import {
  adamUpdate,
  optimizerKernelsAvailable,
  rmspropUpdate,
} from '../fused/optimizer-kernels.js';

/** Adam (Kingma & Ba 2015). */
export interface AdamConfig {
  readonly kind: 'adam';
  /** Step size. Default 1e-3. */
  readonly learningRate?: number;
  /** Default 0.9. */
  readonly beta1?: number;
  /** Default 0.999. */
  readonly beta2?: number;
  /** Default 1e-8. */
  readonly epsilon?: number;
}

/** Where RMSProp's epsilon goes; see {@link RmspropConfig.epsilonPlacement}. */
export const EPSILON_PLACEMENTS = ['inside-root', 'outside-root'] as const;
/** Where RMSProp's epsilon goes. */
export type EpsilonPlacement = (typeof EPSILON_PLACEMENTS)[number];

/**
 * RMSProp with momentum, as used by the NTM paper (momentum 0.9), optionally centred
 * (Graves 2013): `n = rho n + (1 - rho) g^2`, `gbar = rho gbar + (1 - rho) g` (centred only),
 * `mom = momentum mom + lr g / sqrt(n - gbar^2 + eps)`, `theta -= mom`; with
 * `epsilonPlacement: 'outside-root'`, `mom = momentum mom + lr g / (sqrt(n - gbar^2) + eps)`,
 * as PyTorch's `torch.optim.RMSprop`.
 */
export interface RmspropConfig {
  readonly kind: 'rmsprop';
  /** Default 1e-4 (NTM paper, copy). */
  readonly learningRate?: number;
  /** rho. Default 0.95. */
  readonly decay?: number;
  /** Default 0.9. */
  readonly momentum?: number;
  /** Subtract the squared running mean of g from the denominator. Default false. */
  readonly centered?: boolean;
  /** Default 1e-6. */
  readonly epsilon?: number;
  /**
   * `inside-root` (the default): the denominator is sqrt(n + eps), as TensorFlow's RMSProp;
   * `outside-root`: sqrt(n) + eps, as PyTorch's (pytorch-ntm runs it with eps 1e-8).
   */
  readonly epsilonPlacement?: EpsilonPlacement;
}

/** Optimizer settings. */
export type OptimizerConfig = AdamConfig | RmspropConfig;

/**
 * How {@link Optimizer.apply} computes an update. `ops`: TF.js ops on the parameters' backend
 * (the reference, ~10 kernels per parameter). `flat`: one WebAssembly SIMD kernel per parameter
 * over its values in JS memory, with the float32 operations of those ops in their order, so
 * its results are the same bit for bit (tested); it needs WebAssembly SIMD and reads the values
 * back from the backend. `auto` (the default): `flat` on the cpu, wasm and tensorflow backends
 * where SIMD is available, `ops` elsewhere (webgl and webgpu, whose data would have to be read
 * back from the GPU).
 */
export type OptimizerImplementation = 'auto' | 'ops' | 'flat';

/** Backends whose tensors live in CPU memory, where `auto` takes the flat path. */
const FLAT_BACKENDS = new Set(['cpu', 'wasm', 'tensorflow']);

/** A slot's values: a tensor on the ops path, an array on the flat path (converted on demand). */
type Slot = tf.Tensor | Float32Array;

/** Adam's bias-corrected step size and epsilon at update `t` (1-based), in float64. */
function adamScalars(c: Required<AdamConfig>, t: number): { stepSize: number; epsHat: number } {
  return {
    stepSize: (c.learningRate * Math.sqrt(1 - c.beta2 ** t)) / (1 - c.beta1 ** t),
    epsHat: c.epsilon * Math.sqrt(1 - c.beta2 ** t),
  };
}

/** Slot values of every parameter, by parameter then slot name, as plain arrays. */
export interface OptimizerState {
  readonly kind: OptimizerConfig['kind'];
  readonly iterations: number;
  readonly slots: Record<string, Record<string, { shape: number[]; values: Float32Array }>>;
}

/**
 * An optimizer whose state is keyed by the model's logical parameter names, so it can be
 * checkpointed and restored into a new process (TF.js's own optimizers key their state by
 * engine-global variable names, which differ between processes).
 */
export class Optimizer {
  readonly config: Required<AdamConfig> | Required<RmspropConfig>;
  /** How updates are computed ({@link OptimizerImplementation}). */
  readonly implementation: OptimizerImplementation;
  private iterations = 0;
  private readonly slots = new Map<string, Record<string, Slot>>();
  /** The shape of each parameter with slots (array slots do not carry it). */
  private readonly shapes = new Map<string, number[]>();
  /**
   * Flat path: the slot arrays each parameter's last update replaced, written over by its next
   * one (so a step allocates no slot arrays). Never handed out: getState copies.
   */
  private readonly spares = new Map<string, Record<string, Float32Array>>();

  constructor(config: OptimizerConfig, options: { implementation?: OptimizerImplementation } = {}) {
    this.implementation = checkChoice('implementation', options.implementation ?? 'auto', [
      'auto',
      'ops',
      'flat',
    ] as const);
    if (this.implementation === 'flat' && !optimizerKernelsAvailable()) {
      throw new MannError(
        "implementation 'flat' needs WebAssembly SIMD, which this environment lacks; use 'auto' or 'ops'",
      );
    }
    const kind = checkChoice('optimizer.kind', config?.kind, ['adam', 'rmsprop'] as const);
    const valid =
      kind === 'adam'
        ? ['kind', 'learningRate', 'beta1', 'beta2', 'epsilon']
        : ['kind', 'learningRate', 'decay', 'momentum', 'centered', 'epsilon', 'epsilonPlacement'];
    const unknown = Object.keys(config).find((key) => !valid.includes(key));
    if (unknown !== undefined) {
      throw new MannError(
        `unknown ${kind} optimizer option '${unknown}'; valid options: ${valid.join(', ')}`,
      );
    }
    if (kind === 'adam') {
      const c = config as AdamConfig;
      this.config = {
        kind,
        learningRate: checkNumber(
          'optimizer.learningRate',
          c.learningRate ?? 1e-3,
          Number.MIN_VALUE,
        ),
        beta1: checkNumber('optimizer.beta1', c.beta1 ?? 0.9, 0, 0.999999),
        beta2: checkNumber('optimizer.beta2', c.beta2 ?? 0.999, 0, 0.999999999),
        epsilon: checkNumber('optimizer.epsilon', c.epsilon ?? 1e-8, 0),
      };
    } else {
      const c = config as RmspropConfig;
      if (typeof (c.centered ?? false) !== 'boolean') {
        throw invalidArgument('optimizer.centered', c.centered, 'true or false');
      }
      this.config = {
        kind,
        learningRate: checkNumber(
          'optimizer.learningRate',
          c.learningRate ?? 1e-4,
          Number.MIN_VALUE,
        ),
        decay: checkNumber('optimizer.decay', c.decay ?? 0.95, 0, 0.999999),
        momentum: checkNumber('optimizer.momentum', c.momentum ?? 0.9, 0, 0.999999),
        centered: c.centered ?? false,
        epsilon: checkNumber('optimizer.epsilon', c.epsilon ?? 1e-6, 0),
        epsilonPlacement: checkChoice(
          'optimizer.epsilonPlacement',
          c.epsilonPlacement ?? 'inside-root',
          EPSILON_PLACEMENTS,
        ),
      };
    }
  }

  /** Number of updates applied so far. */
  get step(): number {
    return this.iterations;
  }

  /**
   * Applies one update to `variables` from `gradients` (same names). Does not dispose gradients.
   * All or nothing: every gradient is checked (present, same shape as its variable) and every new
   * value computed before any variable, slot or the iteration count changes.
   */
  apply(variables: Record<string, tf.Variable>, gradients: NamedTensors): void {
    for (const [name, variable] of Object.entries(variables)) {
      const g = gradients[name];
      if (!g) throw new MannError(`no gradient for parameter '${name}'`);
      if (!tf.util.arraysEqual(g.shape, variable.shape)) {
        throw new MannError(
          `gradient of parameter '${name}' has shape [${g.shape.join(', ')}], the parameter [${variable.shape.join(', ')}]`,
        );
      }
    }
    if (this.flatHere()) {
      this.applyFlat(
        variables,
        (name) => (gradients[name] as tf.Tensor).dataSync() as Float32Array,
      );
    } else this.applyOps(variables, gradients);
  }

  /**
   * {@link Optimizer.apply} with each gradient as a Float32Array of its parameter's values
   * (row-major), as the training threads sum them: the same update, bit for bit, without
   * making the gradients tensors where the update runs on arrays (the flat path).
   */
  applyArrays(
    variables: Record<string, tf.Variable>,
    gradients: Record<string, Float32Array>,
  ): void {
    for (const [name, variable] of Object.entries(variables)) {
      const g = gradients[name];
      if (!g) throw new MannError(`no gradient for parameter '${name}'`);
      if (g.length !== variable.size) {
        throw new MannError(
          `gradient of parameter '${name}' has ${g.length} values, the parameter [${variable.shape.join(', ')}] ${variable.size}`,
        );
      }
    }
    if (this.flatHere()) {
      this.applyFlat(variables, (name) => gradients[name] as Float32Array);
      return;
    }
    const tensors: NamedTensors = {};
    for (const [name, variable] of Object.entries(variables)) {
      tensors[name] = tf.tensor(gradients[name] as Float32Array, variable.shape);
    }
    try {
      this.applyOps(variables, tensors);
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  /** Whether updates run on arrays (the flat path) here and now. */
  private flatHere(): boolean {
    return (
      this.implementation === 'flat' ||
      (this.implementation === 'auto' &&
        FLAT_BACKENDS.has(tf.getBackend()) &&
        optimizerKernelsAvailable())
    );
  }

  /** The reference: TF.js ops. All or nothing (every value computed before any is assigned). */
  private applyOps(variables: Record<string, tf.Variable>, gradients: NamedTensors): void {
    const t = this.iterations + 1;
    const c = this.config;
    // Phase 1: compute (and keep) every new value; nothing is changed yet.
    const updates = tf.tidy(() => {
      const out: { name: string; value: tf.Tensor; slots: Record<string, tf.Tensor> }[] = [];
      for (const [name, variable] of Object.entries(variables)) {
        const g = gradients[name] as tf.Tensor;
        const old = this.slotTensors(name, variable.shape);
        const next: Record<string, tf.Tensor> = {};
        let value: tf.Tensor;
        if (c.kind === 'adam') {
          const m = tf.add(tf.mul(old.m as tf.Tensor, c.beta1), tf.mul(g, 1 - c.beta1));
          const v = tf.add(tf.mul(old.v as tf.Tensor, c.beta2), tf.mul(tf.square(g), 1 - c.beta2));
          const { stepSize, epsHat } = adamScalars(c, t);
          value = tf.sub(variable, tf.mul(stepSize, tf.div(m, tf.add(tf.sqrt(v), epsHat))));
          next.m = m;
          next.v = v;
        } else {
          const n = tf.add(tf.mul(old.n as tf.Tensor, c.decay), tf.mul(tf.square(g), 1 - c.decay));
          let variance: tf.Tensor = n;
          if (c.centered) {
            const mean = tf.add(tf.mul(old.mean as tf.Tensor, c.decay), tf.mul(g, 1 - c.decay));
            variance = tf.sub(variance, tf.square(mean));
            next.mean = mean;
          }
          // outside the root, relu guards the root against a rounding error below zero
          const denominator =
            c.epsilonPlacement === 'inside-root'
              ? tf.sqrt(tf.add(variance, c.epsilon))
              : tf.add(tf.sqrt(tf.relu(variance)), c.epsilon);
          const mom = tf.add(
            tf.mul(old.momentum as tf.Tensor, c.momentum),
            tf.div(tf.mul(g, c.learningRate), denominator),
          );
          value = tf.sub(variable, mom);
          next.n = n;
          next.momentum = mom;
        }
        out.push({ name, value, slots: next });
      }
      return out;
    });
    // Phase 2: commit (assignments of same-shaped tensors, which do not fail).
    for (const { name, value, slots } of updates) {
      (variables[name] as tf.Variable).assign(value);
      value.dispose();
      this.replaceSlots(name, slots);
    }
    this.iterations = t;
  }

  /**
   * The same update as {@link applyOps} by a WebAssembly SIMD kernel per parameter on its values
   * in JS memory (`adamUpdate` / `rmspropUpdate`, `fused/optimizer-kernels.ts`: the same float32
   * operations in the same order, so the same results bit for bit). All or nothing, as the ops
   * path: the kernels write new values into arrays no state holds (new ones, or the slots' spares),
   * assigned once every one has run.
   */
  private applyFlat(
    variables: Record<string, tf.Variable>,
    gradientOf: (name: string) => Float32Array,
  ): void {
    const t = this.iterations + 1;
    const c = this.config;
    const updates: { name: string; value: Float32Array; slots: Record<string, Float32Array> }[] =
      [];
    for (const [name, variable] of Object.entries(variables)) {
      const x = variable.dataSync() as Float32Array;
      const g = gradientOf(name);
      const old = this.slotArrays(name, variable.size);
      const spare = this.spares.get(name) ?? {};
      if (c.kind === 'adam') {
        const next = adamUpdate(
          { x, g, m: old.m as Float32Array, v: old.v as Float32Array },
          { beta1: c.beta1, beta2: c.beta2, ...adamScalars(c, t) },
          spare,
        );
        updates.push({ name, value: next.x, slots: { m: next.m, v: next.v } });
      } else {
        const next = rmspropUpdate(
          {
            x,
            g,
            n: old.n as Float32Array,
            mom: old.momentum as Float32Array,
            mean: c.centered ? (old.mean as Float32Array) : null,
          },
          {
            decay: c.decay,
            momentum: c.momentum,
            learningRate: c.learningRate,
            epsilon: c.epsilon,
            insideRoot: c.epsilonPlacement === 'inside-root',
          },
          { n: spare.n, mom: spare.momentum, mean: spare.mean },
        );
        const slots: Record<string, Float32Array> = { n: next.n, momentum: next.mom };
        if (next.mean) slots.mean = next.mean;
        updates.push({ name, value: next.x, slots });
      }
    }
    for (const { name, value, slots } of updates) {
      const variable = variables[name] as tf.Variable;
      const tensor = tf.tensor(value, variable.shape);
      variable.assign(tensor);
      tensor.dispose();
      this.replaceSlots(name, slots);
      this.shapes.set(name, [...variable.shape]);
    }
    this.iterations = t;
  }

  /** The slots of `name` as tensors (zeros at first). */
  private slotTensors(name: string, shape: number[]): Record<string, tf.Tensor> {
    const old = this.slots.get(name);
    const out: Record<string, tf.Tensor> = {};
    for (const slot of this.slotNames()) {
      const value = old?.[slot];
      out[slot] =
        value === undefined
          ? tf.zeros(shape)
          : value instanceof Float32Array
            ? tf.tensor(value, shape)
            : value;
    }
    return out;
  }

  /** The slots of `name` as arrays of `size` values (zeros at first), not to be changed. */
  private slotArrays(name: string, size: number): Record<string, Float32Array> {
    const old = this.slots.get(name);
    const out: Record<string, Float32Array> = {};
    for (const slot of this.slotNames()) {
      const value = old?.[slot];
      out[slot] =
        value === undefined
          ? new Float32Array(size)
          : value instanceof Float32Array
            ? value
            : (value.dataSync() as Float32Array);
    }
    return out;
  }

  /**
   * Replaces the slots of `name`, disposing the tensors among the old ones; old arrays of the
   * new arrays' sizes become the spares of the next flat update.
   */
  private replaceSlots(name: string, slots: Record<string, Slot>): void {
    const old = this.slots.get(name) ?? {};
    const spare: Record<string, Float32Array> = {};
    for (const [slot, s] of Object.entries(old)) {
      const next = slots[slot];
      if (!(s instanceof Float32Array)) s.dispose();
      else if (next instanceof Float32Array && next !== s && next.length === s.length)
        spare[slot] = s;
    }
    this.spares.set(name, spare);
    this.slots.set(name, slots);
  }

  private slotNames(): string[] {
    if (this.config.kind === 'adam') return ['m', 'v'];
    return this.config.centered ? ['n', 'momentum', 'mean'] : ['n', 'momentum'];
  }

  /** A copy of the optimizer's state as plain arrays. */
  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [name, record] of this.slots) {
      slots[name] = {};
      for (const [slot, tensor] of Object.entries(record)) {
        slots[name][slot] =
          tensor instanceof Float32Array
            ? { shape: [...(this.shapes.get(name) ?? [tensor.length])], values: tensor.slice() }
            : { shape: [...tensor.shape], values: tensor.dataSync().slice() as Float32Array };
      }
    }
    return { kind: this.config.kind, iterations: this.iterations, slots };
  }

  /** Replaces the optimizer's state with `state` (from {@link Optimizer.getState}). */
  setState(state: OptimizerState): void {
    if (state.kind !== this.config.kind) {
      throw new MannError(
        `optimizer state is for '${state.kind}', this optimizer is '${this.config.kind}'`,
      );
    }
    const expected = this.slotNames();
    for (const [name, record] of Object.entries(state.slots)) {
      const names = Object.keys(record).sort();
      if (names.join() !== [...expected].sort().join()) {
        throw new MannError(
          `optimizer state of '${name}' has slots [${names.join(', ')}], expected [${expected.join(', ')}]`,
        );
      }
    }
    this.dispose();
    this.iterations = state.iterations;
    for (const [name, record] of Object.entries(state.slots)) {
      const arrays: Record<string, Float32Array> = {};
      for (const [slot, entry] of Object.entries(record)) arrays[slot] = entry.values.slice();
      this.slots.set(name, arrays);
      this.shapes.set(name, [...(Object.values(record)[0]?.shape ?? [])]);
    }
  }

  /** Frees the slot tensors. */
  dispose(): void {
    for (const record of this.slots.values()) {
      for (const t of Object.values(record)) if (!(t instanceof Float32Array)) t.dispose();
    }
    this.slots.clear();
    this.shapes.clear();
    this.spares.clear();
  }
}
