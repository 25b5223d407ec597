import * as tf from '@tensorflow/tfjs';
import { checkShape, oneplus, softplus, tidy } from '@mann/core';
import type { KeyActivation, StrengthActivation } from './config.js';

/**
 * How the interface vector (one linear layer of the controller output) is split into the
 * heads' parameters, declared as data. Every head, read or write, addresses memory with the
 * same fields; write heads also emit an erase and an add vector:
 *
 * - addressing, per head: key k (W), strength beta (1), gate g (1), shift s (S), gamma (1)
 * - writing, per write head: erase e (W), add a (W)
 *
 * Layout of the interface vector: the addressing fields of all R + Hw heads (read heads first,
 * each head's fields contiguous, in the order above), then the writing fields of the Hw write
 * heads. Size `(R + Hw) (W + S + 3) + 2 Hw W`.
 */
export interface HeadLayout {
  /** Fields every head emits, name -> size, in interface order. */
  readonly addressing: {
    readonly key: number;
    readonly beta: number;
    readonly gate: number;
    readonly shift: number;
    readonly gamma: number;
  };
  /** Fields a write head also emits, name -> size, in interface order. */
  readonly writing: { readonly erase: number; readonly add: number };
  /** R */
  readonly readHeads: number;
  /** Hw */
  readonly writeHeads: number;
}

/** The {@link HeadLayout} for words of `width`, shifts -shiftRange..+shiftRange and the head counts. */
export function headLayout(
  width: number,
  shiftRange: number,
  readHeads: number,
  writeHeads: number,
): HeadLayout {
  return {
    addressing: { key: width, beta: 1, gate: 1, shift: 2 * shiftRange + 1, gamma: 1 },
    writing: { erase: width, add: width },
    readHeads,
    writeHeads,
  };
}

const sum = (sizes: object): number =>
  Object.values(sizes).reduce((a: number, b: number) => a + b, 0);

/** Width of the interface vector a layout consumes. */
export function interfaceSize(layout: HeadLayout): number {
  const heads = layout.readHeads + layout.writeHeads;
  return heads * sum(layout.addressing) + layout.writeHeads * sum(layout.writing);
}

/** Activations of the two configurable fields. */
export interface HeadActivations {
  readonly key: KeyActivation;
  readonly strength: StrengthActivation;
}

/**
 * The heads' parameters after their activations. The addressing fields cover all R + Hw
 * heads, read heads first (H = R + Hw below); erase and add cover the Hw write heads.
 */
export interface HeadParameters {
  /** k, [B, H, W]: no activation or tanh. */
  readonly key: tf.Tensor3D;
  /** beta, [B, H]: softplus (> 0) or oneplus (>= 1). */
  readonly beta: tf.Tensor2D;
  /** g, [B, H]: sigmoid, in (0, 1). */
  readonly gate: tf.Tensor2D;
  /** s, [B, H, S]: softmax over the shifts -k..+k. */
  readonly shift: tf.Tensor3D;
  /** gamma, [B, H]: oneplus, >= 1. */
  readonly gamma: tf.Tensor2D;
  /** e, [B, Hw, W]: sigmoid, in (0, 1). */
  readonly erase: tf.Tensor3D;
  /** a, [B, Hw, W]: no activation. */
  readonly add: tf.Tensor3D;
}

type Field = keyof HeadLayout['addressing'] | keyof HeadLayout['writing'];

/** Every field's activation, in one place. */
function activate(field: Field, x: tf.Tensor, activations: HeadActivations): tf.Tensor {
  switch (field) {
    case 'key':
      return activations.key === 'tanh' ? tf.tanh(x) : x;
    case 'beta':
      return activations.strength === 'oneplus' ? oneplus(x) : softplus(x);
    case 'gate':
    case 'erase':
      return tf.sigmoid(x);
    case 'shift':
      return tf.softmax(x);
    case 'gamma':
      return oneplus(x);
    case 'add':
      return x;
  }
}

/**
 * Cuts `block` [B, H, sum(sizes)] into the fields of `sizes`, each activated. Slices rather than
 * tf.split: the gradient of a multi-output op fails in TF.js when some of its outputs get no
 * gradient (it receives null for them), e.g. a loss on one traced field.
 */
function splitFields<F extends Field>(
  block: tf.Tensor3D,
  sizes: Readonly<Record<F, number>>,
  activations: HeadActivations,
): Record<F, tf.Tensor3D> {
  const [batch, heads] = block.shape;
  const out = {} as Record<F, tf.Tensor3D>;
  let offset = 0;
  for (const name of Object.keys(sizes) as F[]) {
    const part = tf.slice(block, [0, 0, offset], [batch, heads, sizes[name]]);
    out[name] = activate(name, part, activations) as tf.Tensor3D;
    offset += sizes[name];
  }
  return out;
}

/**
 * Splits the interface vector by `layout` and applies each field's activation.
 *
 * @param interfaceVector - [B, interfaceSize(layout)]
 * @returns the heads' parameters, see {@link HeadParameters}
 */
export function splitInterface(
  interfaceVector: tf.Tensor2D,
  layout: HeadLayout,
  activations: HeadActivations,
): HeadParameters {
  checkShape(
    'interfaceVector',
    interfaceVector,
    [null, interfaceSize(layout)],
    '[B, interfaceSize]',
  );
  return tidy(() => {
    const batch = interfaceVector.shape[0];
    const heads = layout.readHeads + layout.writeHeads;
    const addressingSize = heads * sum(layout.addressing);
    const scalar = (x: tf.Tensor3D): tf.Tensor2D => tf.reshape(x, [batch, heads]);
    const addressingBlock = tf.reshape(tf.slice(interfaceVector, [0, 0], [batch, addressingSize]), [
      batch,
      heads,
      sum(layout.addressing),
    ]) as tf.Tensor3D;
    const addressing = splitFields(addressingBlock, layout.addressing, activations);
    let writing: Record<'erase' | 'add', tf.Tensor3D>;
    if (layout.writeHeads > 0) {
      const writingBlock = tf.reshape(tf.slice(interfaceVector, [0, addressingSize], [batch, -1]), [
        batch,
        layout.writeHeads,
        sum(layout.writing),
      ]) as tf.Tensor3D;
      writing = splitFields(writingBlock, layout.writing, activations);
    } else {
      const empty = tf.zeros([batch, 0, layout.writing.erase]) as tf.Tensor3D;
      writing = { erase: empty, add: empty };
    }
    return {
      key: addressing.key,
      beta: scalar(addressing.beta),
      gate: scalar(addressing.gate),
      shift: addressing.shift,
      gamma: scalar(addressing.gamma),
      erase: writing.erase,
      add: writing.add,
    };
  });
}
