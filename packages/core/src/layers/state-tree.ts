import * as tf from '@tensorflow/tfjs';
import { MannError } from '../errors.js';

/**
 * Turns a model's state into a tree whose leaves are all tensors (a layer's states must be
 * tensors). The default accepts only trees that are already so; a model whose state holds
 * something else (the DNC's fused link, kept in JS memory) passes its own conversion to the
 * layer and the cell. The conversion must be differentiable.
 */
export type StateToTensors = (state: unknown) => unknown;

/** The identity on states whose leaves are tensors; throws naming the first leaf that is not. */
export const tensorsOnly: StateToTensors = (state) => {
  flattenState(state);
  return state;
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype
  );
}

/**
 * The tensors of a state tree, depth first (arrays in order, records in key order): the flat
 * list a layer returns with `returnState` and takes as `initialState`.
 */
export function flattenState(state: unknown, path = 'state'): tf.Tensor[] {
  if (state instanceof tf.Tensor) return [state];
  if (Array.isArray(state)) return state.flatMap((item, i) => flattenState(item, `${path}[${i}]`));
  if (isPlainObject(state)) {
    return Object.entries(state).flatMap(([key, item]) => flattenState(item, `${path}.${key}`));
  }
  throw new MannError(
    `${path} must be a tensor, an array or a record of tensors to be a layer state, got ${String(state)}`,
  );
}

/** Marks a leaf in a {@link stateStructure}. */
export const STATE_LEAF: unique symbol = Symbol('state leaf');

/** The structure of a state tree with {@link STATE_LEAF} for its tensors (outlives them). */
export function stateStructure(tree: unknown): unknown {
  if (tree instanceof tf.Tensor) return STATE_LEAF;
  if (Array.isArray(tree)) return tree.map(stateStructure);
  return Object.fromEntries(
    Object.entries(tree as Record<string, unknown>).map(([k, v]) => [k, stateStructure(v)]),
  );
}

/**
 * The tree of `template` (a state or its {@link stateStructure}) with its leaves replaced, in
 * {@link flattenState} order, by `leaves`.
 */
export function unflattenState(template: unknown, leaves: readonly tf.Tensor[]): unknown {
  let next = 0;
  const rebuild = (node: unknown): unknown => {
    if (node instanceof tf.Tensor || node === STATE_LEAF) {
      const leaf = leaves[next++];
      if (leaf === undefined) throw new MannError(`state needs more than ${leaves.length} tensors`);
      return leaf;
    }
    if (Array.isArray(node)) return node.map(rebuild);
    return Object.fromEntries(
      Object.entries(node as Record<string, unknown>).map(([key, item]) => [key, rebuild(item)]),
    );
  };
  const tree = rebuild(template);
  if (next !== leaves.length) {
    throw new MannError(`state has ${next} tensors, got ${leaves.length}`);
  }
  return tree;
}
