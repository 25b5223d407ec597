import * as tf from '@tensorflow/tfjs';
import type { RecurrentModel } from '../interfaces.js';
import { MannError } from '../errors.js';
import { createModel } from '../registry.js';
import { buildModelAsWeights } from './model-weights.js';
import { parseMannArgs, type LayerArgs, type MannLayerOptions } from './memory-layer.js';
import {
  flattenState,
  stateStructure,
  tensorsOnly,
  unflattenState,
  type StateToTensors,
} from './state-tree.js';

/** What {@link MannCell}'s constructor takes: {@link MannLayerArgs} without the sequence options. */
export type MannCellArgs = LayerArgs &
  Omit<MannLayerOptions, 'returnSequences' | 'returnState' | 'stateful'> & {
    /** A registered model type. */
    readonly type: string;
    /** Any option of that model's config except `inputSize` and `outputSize`. */
    readonly [modelOption: string]: unknown;
  };

/**
 * One step of any registered mann model as a TF.js RNN cell, for `tf.layers.rnn({ cell })` and
 * `tf.layers.stackedRNNCells`: the composable route, slower than the layers (`MannLayer`,
 * `ntmLayer`, `dncLayer`), which run whole sequences with the fused sequence ops. A cell is
 * called once per step by `tf.layers.rnn`, so each step pays its own kernel launches.
 *
 * The RNNCell contract: `stateSize` lists 2-D states [B, size]. The first is the step's output
 * y_t [B, units] (as `tf.layers.lstmCell`'s h: `tf.layers.rnn` and `stackedRNNCells` read the
 * output width from it). The others are the model's state tensors flattened to [B, size]
 * (memory [B, N, W] becomes [B, N W]), in the order of the layer's `stateShapes`, stored as the
 * difference from the model's initial state: the all-zero states `tf.layers.rnn` starts from
 * are the model's own initial state (a learned one included), exactly as the layer starts.
 * `initialState` passed to `tf.layers.rnn` is read in the same coordinates.
 */
export class MannCell extends tf.layers.RNNCell {
  /** The name `tf.serialization` registers the class under (saved in model.json). */
  static className = 'MannCell';
  readonly modelType: string;
  readonly units: number;
  readonly seed: number;
  readonly modelOptions: Readonly<Record<string, unknown>>;
  /** [units, ...state sizes]. */
  readonly stateSize: number[];
  /** The model the cell steps (`null` before `build`). */
  model: RecurrentModel | null = null;
  private readonly leafShapes: number[][];
  private readonly stateTemplate: unknown;
  private readonly stateToTensors: StateToTensors;

  constructor(args: MannCellArgs, stateToTensors: StateToTensors = tensorsOnly) {
    const parsed = parseMannArgs(args, []);
    super(parsed.layerArgs as LayerArgs);
    this.modelType = parsed.type;
    this.units = parsed.units;
    this.seed = parsed.seed;
    this.modelOptions = parsed.modelOptions;
    this.stateToTensors = stateToTensors;
    // tf.layers.rnn reads stateSize before it builds the cell: measure the state of a model
    // built for one input channel (the state does not depend on the input width; build checks).
    const probe = createModel(this.modelConfig(1), { seed: 0 });
    try {
      const { shapes, template } = this.measureState(probe);
      this.leafShapes = shapes;
      this.stateTemplate = template;
    } finally {
      probe.dispose();
    }
    this.stateSize = [this.units, ...this.leafShapes.map(size)];
  }

  private measureState(model: RecurrentModel): { shapes: number[][]; template: unknown } {
    return tf.tidy(() => {
      const state = this.stateToTensors(model.initialState(1));
      const shapes = flattenState(state).map((t) => t.shape.slice(1));
      return { shapes, template: stateStructure(state) } as never;
    });
  }

  /** The full config of the model this cell steps, for inputs of `inputSize` channels. */
  modelConfig(inputSize: number): Parameters<typeof createModel>[0] {
    return { ...this.modelOptions, type: this.modelType, inputSize, outputSize: this.units };
  }

  override build(inputShape: (number | null)[] | (number | null)[][]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as (number | null)[];
    const features = shape[shape.length - 1];
    if (typeof features !== 'number') {
      throw new MannError(`${this.getClassName()} input must have a known feature size`);
    }
    this.model = buildModelAsWeights(
      (name, weightShape, initializer, trainable) =>
        this.addWeight(name, weightShape, 'float32', initializer, undefined, trainable),
      this.modelConfig(features),
      this.seed,
    );
    const { shapes } = this.measureState(this.model);
    if (shapes.map((s) => s.join()).join() !== this.leafShapes.map((s) => s.join()).join()) {
      throw new MannError(`${this.getClassName()}: the model's state depends on its input width`);
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Record<string, unknown>): tf.Tensor[] {
    const model = this.model;
    if (!model) throw new MannError(`cell ${this.name} is not built yet`);
    const list = inputs as tf.Tensor[];
    const x = list[0] as tf.Tensor2D;
    const given = list.slice(2); // list[1] is the previous output
    if (given.length !== this.leafShapes.length) {
      throw new MannError(
        `${this.getClassName()} takes ${this.leafShapes.length + 1} states, got ${list.length - 1}`,
      );
    }
    return tf.tidy(() => {
      const batch = x.shape[0];
      const initial = flattenState(this.stateToTensors(model.initialState(batch)));
      const state = unflattenState(
        this.stateTemplate,
        given.map((offset, i) => {
          const start = initial[i] as tf.Tensor;
          return tf.add(start, offset.reshape(start.shape));
        }),
      );
      const step = model.step(x, state);
      const next = flattenState(this.stateToTensors(step.state)).map((leaf, i) =>
        tf.sub(leaf, initial[i] as tf.Tensor).reshape([batch, -1]),
      );
      return [step.output, step.output, ...next];
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...(this.modelOptions as tf.serialization.ConfigDict),
      type: this.modelType,
      units: this.units,
      seed: this.seed,
      ...super.getConfig(),
    };
  }
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

tf.serialization.registerClass(MannCell);
