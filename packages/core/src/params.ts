import * as tf from '@tensorflow/tfjs';
import type { Rng } from './random.js';
import { MannError } from './errors.js';

/** How a parameter's first values are drawn. */
export type Initializer =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'constant'; readonly value: number }
  /** Glorot/Xavier uniform over [-l, l], l = sqrt(6 / (fanIn + fanOut)). */
  | { readonly kind: 'glorotUniform'; readonly fanIn: number; readonly fanOut: number }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  | { readonly kind: 'normal'; readonly mean: number; readonly std: number };

/** Creates parameters under a name prefix; what model parts (controllers, memories) receive. */
export interface ParameterScope {
  readonly prefix: string;
  /** The model's seeded generator (for parts that draw random initial state). */
  readonly rng: Rng;
  /** Creates `prefix/name`; see {@link ParameterStore.create}. */
  create(
    name: string,
    shape: readonly number[],
    init: Initializer,
    options?: ParameterOptions,
  ): tf.Variable;
  /** A nested scope `prefix/inner`. */
  scope(inner: string): ParameterScope;
}

/** Options of {@link ParameterStore.create}. */
export interface ParameterOptions {
  /**
   * False for values drawn once and then held fixed (e.g. a random initial memory): checkpoints
   * keep them, the trainer does not update them, {@link ParameterStore.count} does not count
   * them. Default true.
   */
  readonly trainable?: boolean;
}

let storeCounter = 0;

/**
 * Makes the variable behind a parameter: `name` is the parameter's logical name
 * (`controller/lstm0/kernel`), `initial` its first values (the caller disposes it afterwards).
 * The returned variable must hold a copy of `initial` and is owned by whoever made it.
 */
export type VariableFactory = (name: string, initial: tf.Tensor, trainable: boolean) => tf.Variable;

let activeFactory: VariableFactory | undefined;

/**
 * Runs `build` with every {@link ParameterStore} constructed inside it making its variables with
 * `factory` instead of `tf.variable`: how a TF.js layer builds a model around variables it owns
 * (the layer's weights), with the values the model's own seeded initialisation draws.
 * Not reentrant across async boundaries: `build` must be synchronous.
 */
export function withVariableFactory<T>(factory: VariableFactory, build: () => T): T {
  const previous = activeFactory;
  activeFactory = factory;
  try {
    return build();
  } finally {
    activeFactory = previous;
  }
}

/**
 * The named, trainable parameters of one model. Names are logical and stable
 * (`controller/lstm0/kernel`), so checkpoints and optimizer state carry across processes;
 * the underlying tf.Variables get a unique engine-wide name (TF.js rejects duplicate names).
 * Values are drawn from the model's seeded {@link Rng}, so a seed fixes the initialisation.
 */
export class ParameterStore {
  private readonly variables = new Map<string, tf.Variable>();
  private readonly prefix = `mann${++storeCounter}`;
  /** Set when the store was made inside {@link withVariableFactory}. */
  private readonly factory = activeFactory;

  constructor(private readonly rng: Rng) {}

  /** Creates parameter `name` of `shape`. Names must be unique within the store. */
  create(
    name: string,
    shape: readonly number[],
    init: Initializer,
    options: ParameterOptions = {},
  ): tf.Variable {
    if (this.variables.has(name)) throw new MannError(`parameter '${name}' already exists`);
    if (shape.some((s) => !Number.isInteger(s) || s <= 0)) {
      throw new MannError(
        `parameter '${name}' must have positive integer sizes, got [${shape.join(', ')}]`,
      );
    }
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    switch (init.kind) {
      case 'zeros':
        break;
      case 'constant':
        values.fill(init.value);
        break;
      case 'glorotUniform': {
        const limit = Math.sqrt(6 / (init.fanIn + init.fanOut));
        for (let i = 0; i < size; i++) values[i] = this.rng.uniformIn(-limit, limit);
        break;
      }
      case 'uniform':
        for (let i = 0; i < size; i++) values[i] = this.rng.uniformIn(init.low, init.high);
        break;
      case 'normal':
        for (let i = 0; i < size; i++) values[i] = this.rng.normal(init.mean, init.std);
        break;
    }
    const initial = tf.tensor(values, [...shape]);
    const trainable = options.trainable ?? true;
    const variable = this.factory
      ? this.factory(name, initial, trainable)
      : tf.variable(initial, trainable, `${this.prefix}/${name}`);
    initial.dispose(); // the variable holds its own reference to the data
    this.variables.set(name, variable);
    return variable;
  }

  /** A view that creates parameters under `prefix/` (e.g. `controller/lstm0/kernel`). */
  scope(prefix: string): ParameterScope {
    return {
      prefix,
      rng: this.rng,
      create: (name, shape, init, options) =>
        this.create(`${prefix}/${name}`, shape, init, options),
      scope: (inner) => this.scope(`${prefix}/${inner}`),
    };
  }

  /** The parameter called `name`. */
  get(name: string): tf.Variable {
    const v = this.variables.get(name);
    if (!v)
      throw new MannError(
        `no parameter '${name}'; known: ${[...this.variables.keys()].join(', ')}`,
      );
    return v;
  }

  /** Parameter names in creation order. */
  names(): string[] {
    return [...this.variables.keys()];
  }

  /** name -> variable, in creation order. */
  entries(): [string, tf.Variable][] {
    return [...this.variables.entries()];
  }

  /** name -> variable of the trainable parameters only, in creation order. */
  trainableEntries(): [string, tf.Variable][] {
    return this.entries().filter(([, v]) => v.trainable);
  }

  /** Number of trainable scalar parameters. */
  count(): number {
    let n = 0;
    for (const v of this.variables.values()) if (v.trainable) n += v.size;
    return n;
  }

  /** Copies of every parameter's values, by name. */
  snapshot(): Record<string, { shape: number[]; values: Float32Array }> {
    const out: Record<string, { shape: number[]; values: Float32Array }> = {};
    for (const [name, v] of this.variables) {
      out[name] = { shape: [...v.shape], values: v.dataSync().slice() as Float32Array };
    }
    return out;
  }

  /** Overwrites every parameter from `values` (names and shapes must match exactly). */
  load(values: Record<string, { shape: readonly number[]; values: Float32Array }>): void {
    const expected = this.names();
    const given = Object.keys(values);
    const missing = expected.filter((n) => !(n in values));
    const extra = given.filter((n) => !this.variables.has(n));
    if (missing.length || extra.length) {
      throw new MannError(
        `parameters do not match the model: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`,
      );
    }
    for (const [name, v] of this.variables) {
      const entry = values[name] as { shape: readonly number[]; values: Float32Array };
      if (entry.shape.length !== v.shape.length || entry.shape.some((s, i) => s !== v.shape[i])) {
        throw new MannError(
          `parameter '${name}' has shape [${entry.shape.join(', ')}] in the source, the model expects [${v.shape.join(', ')}]`,
        );
      }
      tf.tidy(() => v.assign(tf.tensor(entry.values, v.shape)));
    }
  }

  /** Frees every variable. */
  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}
