import * as tf from '@tensorflow/tfjs';
import type { ModelConfig, RecurrentModel } from '../interfaces.js';
import { checkInteger, MannError } from '../errors.js';
import { getModelDefinition } from '../registry.js';
import { buildModelAsWeights } from './model-weights.js';
import {
  flattenState,
  stateStructure,
  tensorsOnly,
  unflattenState,
  type StateToTensors,
} from './state-tree.js';

/** The arguments every TF.js layer takes (name, inputShape, batchInputShape, trainable, ...). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/** Keys of {@link LayerArgs}: everything else a layer is given configures the model. */
const LAYER_ARG_KEYS = [
  'inputShape',
  'batchInputShape',
  'batchSize',
  'dtype',
  'name',
  'trainable',
  'weights',
  'inputDType',
] as const;

/** Options of a {@link MannLayer} itself, in the style of `tf.layers.lstm`. */
export interface MannLayerOptions {
  /** Output channels per step: the model's `outputSize` (the logits y_t, no activation). */
  readonly units: number;
  /**
   * Seed of the model's parameter initialisation (the values `createModel(config, { seed })`
   * draws). Default: a random integer, recorded in the layer's config.
   */
  readonly seed?: number;
  /** Return the output of every step, [B, T, units], instead of the last, [B, units]. Default false. */
  readonly returnSequences?: boolean;
  /**
   * Also return the final state, as a list of tensors after the output (the model's state tree
   * flattened depth first; see {@link MannLayer.stateShapes}). Default false.
   */
  readonly returnState?: boolean;
  /**
   * Carry the final state of a batch over as the initial state of the next (sample i of a
   * batch continues sample i of the previous one) until `resetStates()`. Default false.
   */
  readonly stateful?: boolean;
}

/** What {@link MannLayer}'s constructor takes: layer arguments, layer options and model options. */
export type MannLayerArgs = LayerArgs &
  MannLayerOptions & {
    /** A registered model type (`ntm`, `dnc`, `lstm`, `memory`, or a plugin's). */
    readonly type: string;
    /** Any option of that model's config except `inputSize` (the input's last dimension) and `outputSize` (`units`). */
    readonly [modelOption: string]: unknown;
  };

function checkBoolean(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new MannError(`${name} must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * `args` with `type` set to the one model type a layer or cell class wraps (`NtmLayer`: 'ntm').
 *
 * @throws MannError naming the class when `args` gives another type.
 */
export function withModelType<A extends object>(
  className: string,
  type: string,
  args: A,
): A & { type: string } {
  const given = (args as { type?: unknown }).type;
  if (given !== undefined && given !== type) {
    throw new MannError(
      `type of ${className} must be '${type}' (or left out), got ${JSON.stringify(given)}`,
    );
  }
  return { ...args, type };
}

/** The parts of a layer or cell config: see {@link parseMannArgs}. */
export interface ParsedMannArgs {
  readonly layerArgs: LayerArgs;
  readonly type: string;
  readonly units: number;
  readonly seed: number;
  /** The model's resolved options (without type, inputSize and outputSize). */
  readonly modelOptions: Readonly<Record<string, unknown>>;
  /** The values of the extra layer options asked for. */
  readonly flags: Readonly<Record<string, unknown>>;
}

/**
 * Splits a layer or cell config into TF.js layer arguments, `type`, `units`, `seed`, the
 * `flags` named (e.g. `returnSequences`) and the model's options, which are resolved by the
 * model's definition now, so that a bad option fails at construction naming the field.
 */
export function parseMannArgs(args: unknown, flagNames: readonly string[]): ParsedMannArgs {
  if (args === null || typeof args !== 'object') {
    throw new MannError(`layer config must be an object, got ${JSON.stringify(args)}`);
  }
  const layerArgs: Record<string, unknown> = {};
  const flags: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    // customObjects: added by tf.loadLayersModel's deserialisation, not part of the config
    if (value === undefined || key === 'customObjects') continue;
    if ((LAYER_ARG_KEYS as readonly string[]).includes(key)) layerArgs[key] = value;
    else if (flagNames.includes(key)) flags[key] = value;
    else rest[key] = value;
  }
  const { type, units, seed, ...modelOptions } = rest;
  if (typeof type !== 'string') {
    throw new MannError(`type must name a registered model, got ${JSON.stringify(type)}`);
  }
  const definition = getModelDefinition(type);
  const checkedUnits = checkInteger('units', units, 1);
  const checkedSeed =
    seed === undefined
      ? Math.floor(Math.random() * 2 ** 31)
      : checkInteger('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  for (const key of ['inputSize', 'outputSize'] as const) {
    if (key in modelOptions) {
      throw new MannError(
        `${key} is not a layer option: the input size is the input's last dimension, the output size is units`,
      );
    }
  }
  const shape = (layerArgs['batchInputShape'] ?? layerArgs['inputShape']) as
    (number | null)[] | undefined;
  const last = shape?.[shape.length - 1];
  const {
    type: _type,
    inputSize: _inputSize,
    outputSize: _outputSize,
    ...resolved
  } = definition.resolveConfig({
    ...modelOptions,
    type,
    inputSize: typeof last === 'number' ? last : 1,
    outputSize: checkedUnits,
  });
  return {
    layerArgs: layerArgs as LayerArgs,
    type,
    units: checkedUnits,
    seed: checkedSeed,
    modelOptions: resolved,
    flags,
  };
}

/**
 * Any registered mann model (NTM, DNC, the LSTM baseline, a plugin's) as a TF.js layer: a real
 * `tf.layers.Layer` for `tf.sequential()` and the functional API, trained by `model.fit` and
 * `model.fitDataset`, saved by `model.save` and restored by `tf.loadLayersModel` (the class is
 * registered with `tf.serialization.registerClass`).
 *
 * Input [B, T, F] (F becomes the model's `inputSize`); output the logits of the last step
 * [B, units], or of every step [B, T, units] with `returnSequences`. The model's parameters
 * are the layer's weights (see {@link buildModelAsWeights}).
 *
 * How it computes: without a mask and without a final state to return or keep, a call is one
 * `model.run` over the whole sequence, which takes the model's fused whole-sequence op when
 * its configuration allows (NTM and DNC with a one-layer LSTM controller and the fused
 * implementation); so does a call with a mask (`tf.layers.masking` before it) whose sequences
 * are all post-padded (real steps first), with zeros at the padded steps. With any other mask,
 * `returnState` or `stateful`, it steps with `model.step` (the fused memory step where
 * configured): a masked step keeps the state of the step before and outputs zeros. Either
 * way, padding anywhere in a sequence changes neither the outputs of its real steps nor the
 * gradients.
 *
 * `initialState`: in the functional API `layer.apply(x, { initialState: [...] })`, a list of
 * tensors (symbolic or concrete) in the order and shapes of {@link MannLayer.stateShapes}.
 */
export class MannLayer extends tf.layers.Layer {
  /** The name `tf.serialization` registers the class under (saved in model.json). */
  static className = 'MannLayer';
  readonly modelType: string;
  readonly units: number;
  readonly seed: number;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  /** The model's resolved options (without type, inputSize and outputSize). */
  readonly modelOptions: Readonly<Record<string, unknown>>;
  /** The model this layer runs, built with the layer (`null` before `build`). */
  model: RecurrentModel | null = null;
  private stateTemplate: unknown = null;
  private leafShapes: number[][] = [];
  private carried: tf.Tensor[] | null = null;

  constructor(args: MannLayerArgs, stateToTensors: StateToTensors = tensorsOnly) {
    const parsed = parseMannArgs(args, ['returnSequences', 'returnState', 'stateful']);
    super(parsed.layerArgs);
    this.stateToTensors = stateToTensors;
    this.modelType = parsed.type;
    this.units = parsed.units;
    this.seed = parsed.seed;
    this.modelOptions = parsed.modelOptions;
    this.returnSequences = checkBoolean('returnSequences', parsed.flags['returnSequences']);
    this.returnState = checkBoolean('returnState', parsed.flags['returnState']);
    this._stateful = checkBoolean('stateful', parsed.flags['stateful']);
    this.supportsMasking = true;
  }

  private readonly stateToTensors: StateToTensors;

  /** The full config of the model this layer builds for inputs of `inputSize` channels. */
  modelConfig(inputSize: number): ModelConfig {
    return { ...this.modelOptions, type: this.modelType, inputSize, outputSize: this.units };
  }

  /** Shapes of the state tensors without the batch dimension, in `returnState` order (after `build`). */
  get stateShapes(): number[][] {
    this.assertBuilt();
    return this.leafShapes.map((shape) => [...shape]);
  }

  private assertBuilt(): asserts this is { model: RecurrentModel } {
    if (!this.model)
      throw new MannError(`layer ${this.name} is not built yet (call it on an input first)`);
  }

  override build(inputShape: (number | null)[] | (number | null)[][]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
    if (shape.length !== 3) {
      throw new MannError(
        `${this.getClassName()} input must be [batch, time, features], got [${shape.join(', ')}]`,
      );
    }
    const features = shape[2];
    if (typeof features !== 'number') {
      throw new MannError(
        `${this.getClassName()} input must have a known feature size, got [${shape.join(', ')}]`,
      );
    }
    if (this.stateful && typeof shape[0] !== 'number') {
      throw new MannError(
        `stateful ${this.getClassName()} needs a fixed batch size: give the first layer batchInputShape or batchSize`,
      );
    }
    this.model = buildModelAsWeights(
      (name, weightShape, initializer, trainable) =>
        this.addWeight(name, weightShape, 'float32', initializer, undefined, trainable),
      this.modelConfig(features),
      this.seed,
    );
    const model = this.model;
    tf.tidy(() => {
      const template = this.stateToTensors(model.initialState(1));
      this.leafShapes = flattenState(template).map((t) => t.shape.slice(1));
      this.stateTemplate = stateStructure(template);
    });
    this.built = true;
  }

  override computeOutputShape(
    inputShape: (number | null)[] | (number | null)[][],
  ): (number | null)[] | (number | null)[][] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
    const [batch, steps] = [shape[0] ?? null, shape[1] ?? null];
    const output: (number | null)[] = this.returnSequences
      ? [batch, steps, this.units]
      : [batch, this.units];
    if (!this.returnState) return output;
    return [output, ...this.leafShapes.map((s) => [batch, ...s])];
  }

  override computeMask(
    inputs: tf.Tensor | tf.Tensor[],
    mask?: tf.Tensor | tf.Tensor[],
  ): tf.Tensor | tf.Tensor[] {
    const inputMask = (Array.isArray(mask) ? mask[0] : mask) ?? null;
    const outputMask = this.returnSequences ? inputMask : null;
    if (!this.returnState) return outputMask as tf.Tensor;
    return [outputMask, ...this.leafShapes.map(() => null)] as tf.Tensor[];
  }

  /** Calls the layer; `kwargs.initialState` (a list of tensors) starts from that state. */
  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[],
    kwargs: Record<string, unknown> = {},
  ): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    const { initialState, ...rest } = kwargs;
    if (initialState === undefined || initialState === null) return super.apply(inputs, rest);
    const states = (Array.isArray(initialState) ? initialState : [initialState]) as (
      tf.Tensor | tf.SymbolicTensor
    )[];
    const first = Array.isArray(inputs) ? inputs : [inputs];
    return super.apply([...first, ...states] as tf.Tensor[] | tf.SymbolicTensor[], rest);
  }

  override call(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: Record<string, unknown>,
  ): tf.Tensor | tf.Tensor[] {
    this.assertBuilt();
    const model = this.model;
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const x = list[0] as tf.Tensor3D;
    const given = list.slice(1);
    const rawMask = kwargs['mask'] as tf.Tensor | tf.Tensor[] | undefined;
    const mask = (Array.isArray(rawMask) ? rawMask[0] : rawMask) ?? undefined;
    const batch = x.shape[0];
    const result = tf.tidy((): { output: tf.Tensor; state: tf.Tensor[] } => {
      let initialLeaves: tf.Tensor[] | null = null;
      if (given.length > 0) initialLeaves = given;
      else if (this.stateful && this.carried) initialLeaves = this.carried;
      if (initialLeaves)
        this.checkStateLeaves(
          initialLeaves,
          batch,
          given.length > 0 ? 'initialState' : 'the carried state',
        );
      const initial = initialLeaves ? unflattenState(this.stateTemplate, initialLeaves) : undefined;
      const needState = this.returnState || this.stateful;
      const lengths = mask && !needState ? postPaddedLengths(mask) : null;
      if ((!mask || lengths) && !needState) {
        const outputs = model.run(
          x,
          initial === undefined ? {} : { initialState: initial },
        ).outputs;
        if (!lengths || !mask) {
          return { output: this.returnSequences ? outputs : lastStep(outputs), state: [] };
        }
        // Post-padding: the real steps come first, so the padded ones cannot change them.
        return { output: maskPadded(outputs, mask, lengths, this.returnSequences), state: [] };
      }
      return this.runSteps(model, x, mask, initial);
    });
    if (this.stateful) {
      const kept = result.state.map((t) => tf.keep(t.clone()));
      if (this.carried) tf.dispose(this.carried);
      this.carried = kept;
    }
    if (!this.returnState) {
      tf.dispose(result.state);
      return result.output;
    }
    return [result.output, ...result.state];
  }

  private runSteps(
    model: RecurrentModel,
    x: tf.Tensor3D,
    mask: tf.Tensor | undefined,
    initial: unknown,
  ): { output: tf.Tensor; state: tf.Tensor[] } {
    const [batch, steps, features] = x.shape;
    let state: unknown = initial ?? model.initialState(batch);
    const outputs: tf.Tensor2D[] = [];
    let last: tf.Tensor2D | null = null;
    for (let t = 0; t < steps; t++) {
      const input = x
        .slice([0, t, 0], [batch, 1, features])
        .reshape([batch, features]) as tf.Tensor2D;
      const step = model.step(input, state);
      if (!mask) {
        state = step.state;
        outputs.push(step.output);
        last = step.output;
        continue;
      }
      const real = mask.slice([0, t], [batch, 1]).reshape([batch]).cast('bool');
      const before = flattenState(this.stateToTensors(state));
      const after = flattenState(this.stateToTensors(step.state));
      state = unflattenState(
        this.stateTemplate,
        after.map((leaf, i) => selectRows(real, leaf, before[i] as tf.Tensor)),
      );
      outputs.push(selectRows(real, step.output, tf.zerosLike(step.output)) as tf.Tensor2D);
      last = selectRows(real, step.output, last ?? tf.zerosLike(step.output)) as tf.Tensor2D;
    }
    const output = this.returnSequences ? tf.stack(outputs, 1) : (last as tf.Tensor2D);
    return { output, state: flattenState(this.stateToTensors(state)) };
  }

  private checkStateLeaves(leaves: readonly tf.Tensor[], batch: number, what: string): void {
    if (leaves.length !== this.leafShapes.length) {
      throw new MannError(
        `${what} of ${this.name} must be ${this.leafShapes.length} tensors (see stateShapes), got ${leaves.length}`,
      );
    }
    leaves.forEach((leaf, i) => {
      const expected = [batch, ...(this.leafShapes[i] as number[])];
      if (leaf.shape.join() !== expected.join()) {
        throw new MannError(
          `${what}[${i}] of ${this.name} must have shape [${expected.join(', ')}], got [${leaf.shape.join(', ')}]`,
        );
      }
    });
  }

  /**
   * Stateful layers: forget the carried state (the next batch starts from the model's initial
   * state), or carry `states` (tensors in {@link MannLayer.stateShapes} order, batch first).
   */
  override resetStates(states?: tf.Tensor | tf.Tensor[]): void {
    if (!this.stateful) throw new MannError(`resetStates: layer ${this.name} is not stateful`);
    if (states === undefined) {
      if (this.carried) tf.dispose(this.carried);
      this.carried = null;
      return;
    }
    const list = Array.isArray(states) ? states : [states];
    this.checkStateLeaves(list, list[0]?.shape[0] ?? 0, 'resetStates states');
    const kept = list.map((t) => tf.keep(t.clone()));
    if (this.carried) tf.dispose(this.carried);
    this.carried = kept;
  }

  /** The carried state of a stateful layer (copies), or null before the first call or after a reset. */
  get states(): tf.Tensor[] | null {
    return this.carried ? this.carried.map((t) => t.clone()) : null;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...(this.modelOptions as tf.serialization.ConfigDict),
      type: this.modelType,
      units: this.units,
      seed: this.seed,
      returnSequences: this.returnSequences,
      returnState: this.returnState,
      stateful: this.stateful,
      ...super.getConfig(),
    };
  }

  override dispose(): ReturnType<InstanceType<typeof tf.layers.Layer>['dispose']> {
    if (this.carried) tf.dispose(this.carried);
    this.carried = null;
    return super.dispose();
  }
}

/** outputs [B, T, O] -> the last step [B, O]. */
function lastStep(outputs: tf.Tensor3D): tf.Tensor2D {
  const [batch, steps, size] = outputs.shape;
  return outputs.slice([0, steps - 1, 0], [batch, 1, size]).reshape([batch, size]);
}

/**
 * The number of real steps of each sequence when every one is post-padded (its mask [B, T] is
 * true for steps 0..L-1 and false after), else null.
 */
function postPaddedLengths(mask: tf.Tensor): number[] | null {
  const [batch, steps] = mask.shape as [number, number];
  const values = mask.dataSync();
  const lengths: number[] = [];
  for (let b = 0; b < batch; b++) {
    let length = 0;
    while (length < steps && values[b * steps + length]) length++;
    for (let t = length; t < steps; t++) if (values[b * steps + t]) return null;
    lengths.push(length);
  }
  return lengths;
}

/**
 * outputs [B, T, O] of a post-padded batch as the step path gives them: zeros at padded steps;
 * without `sequences`, the output of each sequence's last real step (zeros when it has none).
 */
function maskPadded(
  outputs: tf.Tensor3D,
  mask: tf.Tensor,
  lengths: readonly number[],
  sequences: boolean,
): tf.Tensor {
  const [batch, steps, size] = outputs.shape;
  if (sequences) {
    const real = tf.broadcastTo(mask.cast('bool').reshape([batch, steps, 1]), outputs.shape);
    return tf.where(real, outputs, tf.zerosLike(outputs));
  }
  const pick = new Float32Array(batch * steps);
  lengths.forEach((length, b) => {
    if (length > 0) pick[b * steps + length - 1] = 1;
  });
  const last = tf.tensor3d(pick, [batch, steps, 1]);
  return tf.sum(tf.mul(outputs, last), 1).reshape([batch, size]);
}

/** Row b of `ifTrue` where `rows[b]`, else row b of `ifFalse`; rows [B] bool. */
function selectRows(rows: tf.Tensor, ifTrue: tf.Tensor, ifFalse: tf.Tensor): tf.Tensor {
  const shape = [rows.shape[0] as number, ...ifTrue.shape.slice(1).map(() => 1)];
  return tf.where(tf.broadcastTo(rows.reshape(shape), ifTrue.shape), ifTrue, ifFalse);
}

tf.serialization.registerClass(MannLayer);
