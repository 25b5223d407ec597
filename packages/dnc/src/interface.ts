import * as tf from '@tensorflow/tfjs';
import { checkShape, customGradient, MannError, tidy } from '@mann/core';
import type { DncMemoryConfig } from './config.js';

/** The interface vector xi_t, split and activated (DNC paper, methods; docs/spec.md section 3). */
export interface DncInterface {
  /** k^r, read keys, [B, R, W]. */
  readonly readKeys: tf.Tensor3D;
  /** beta^r = oneplus(.) >= 1, read strengths, [B, R]. */
  readonly readStrengths: tf.Tensor2D;
  /** k^w, write keys, [B, Hw, W]. */
  readonly writeKeys: tf.Tensor3D;
  /** beta^w = oneplus(.) >= 1, write strengths, [B, Hw]. */
  readonly writeStrengths: tf.Tensor2D;
  /** e = sigmoid(.), erase vectors, [B, Hw, W]. */
  readonly eraseVectors: tf.Tensor3D;
  /** v, write vectors, [B, Hw, W]. */
  readonly writeVectors: tf.Tensor3D;
  /** f = sigmoid(.), free gates, [B, R]. */
  readonly freeGates: tf.Tensor2D;
  /** g^a = sigmoid(.), allocation gates, [B, Hw]. */
  readonly allocationGates: tf.Tensor2D;
  /** g^w = sigmoid(.), write gates, [B, Hw]. */
  readonly writeGates: tf.Tensor2D;
  /**
   * pi = softmax(.), read modes, [B, R, 1 + 2 Hw], in the order backward (one per write
   * head), content, forward (one per write head); with one write head {backward, content,
   * forward}.
   */
  readonly readModes: tf.Tensor3D;
  /** DNC-MD masking only: m^r = sigmoid(.), [B, R, W]. */
  readonly readMasks?: tf.Tensor3D;
  /** DNC-MD masking only: m^w = sigmoid(.), [B, Hw, W]. */
  readonly writeMasks?: tf.Tensor3D;
  /** DNC-MD link sharpness only: s = oneplus(.) >= 1, [B, R, 2] (backward, forward). */
  readonly linkSharpness?: tf.Tensor3D;
}

/** The activation a field of the interface vector goes through. */
export type InterfaceActivation = 'identity' | 'sigmoid' | 'oneplus' | 'softmax';

/** One field of the interface vector: its per-example shape and activation. */
export interface InterfaceField {
  readonly name: keyof DncInterface;
  /** Shape per example, e.g. [R, W]; the field takes prod(shape) units. */
  readonly shape: readonly number[];
  /** `softmax` normalises over the last axis of `shape` (softmax fields come last). */
  readonly activation: InterfaceActivation;
}

/**
 * The layout of the interface vector, in order: deepmind/dnc's order (read keys, read
 * strengths, write keys, write strengths, erase vectors, write vectors, free gates, allocation
 * gates, write gates), then the DNC-MD fields that are switched on, then the read modes, last
 * (the softmax fields must come last). Without options its size is
 * `R W + 3 W + 5 R + 3` for one write head (docs/spec.md section 3); in general
 * `R W + R + Hw (3 W + 3) + R + R (1 + 2 Hw)`, plus `(R + Hw) W` with masking and `2 R` with
 * link sharpness.
 */
export function interfaceLayout(
  config: Pick<
    DncMemoryConfig,
    'memoryWidth' | 'readHeads' | 'writeHeads' | 'masking' | 'linkSharpness'
  >,
): readonly InterfaceField[] {
  const { memoryWidth: w, readHeads: r, writeHeads: hw } = config;
  const fields: InterfaceField[] = [
    { name: 'readKeys', shape: [r, w], activation: 'identity' },
    { name: 'readStrengths', shape: [r], activation: 'oneplus' },
    { name: 'writeKeys', shape: [hw, w], activation: 'identity' },
    { name: 'writeStrengths', shape: [hw], activation: 'oneplus' },
    { name: 'eraseVectors', shape: [hw, w], activation: 'sigmoid' },
    { name: 'writeVectors', shape: [hw, w], activation: 'identity' },
    { name: 'freeGates', shape: [r], activation: 'sigmoid' },
    { name: 'allocationGates', shape: [hw], activation: 'sigmoid' },
    { name: 'writeGates', shape: [hw], activation: 'sigmoid' },
  ];
  if (config.masking) {
    fields.push({ name: 'readMasks', shape: [r, w], activation: 'sigmoid' });
    fields.push({ name: 'writeMasks', shape: [hw, w], activation: 'sigmoid' });
  }
  if (config.linkSharpness)
    fields.push({ name: 'linkSharpness', shape: [r, 2], activation: 'oneplus' });
  fields.push({ name: 'readModes', shape: [r, 1 + 2 * hw], activation: 'softmax' });
  return fields;
}

/** Units a field takes in the interface vector. */
function fieldSize(field: InterfaceField): number {
  return field.shape.reduce((a, b) => a * b, 1);
}

/** Width of an interface vector with this layout. */
export function interfaceSize(layout: readonly InterfaceField[]): number {
  return layout.reduce((total, field) => total + fieldSize(field), 0);
}

/** What the activation op needs from a layout: per-unit masks and the softmax block at the end. */
interface ActivationPlan {
  /** Units before the softmax block. */
  readonly elementwise: number;
  /** Per unit of the elementwise part: 1 where the activation is identity / sigmoid / oneplus. */
  readonly identity: Float32Array;
  readonly sigmoid: Float32Array;
  readonly oneplus: Float32Array;
  /** Width of each softmax group (the last axis of the softmax fields); 0 without any. */
  readonly group: number;
}

function activationPlan(layout: readonly InterfaceField[]): ActivationPlan {
  const softmaxFields = layout.filter((f) => f.activation === 'softmax');
  const firstSoftmax = layout.findIndex((f) => f.activation === 'softmax');
  const group = softmaxFields[0]?.shape.at(-1) ?? 0;
  if (
    firstSoftmax >= 0 &&
    (layout.slice(firstSoftmax).some((f) => f.activation !== 'softmax') ||
      softmaxFields.some((f) => f.shape.at(-1) !== group))
  ) {
    throw new MannError(
      'interface layout: softmax fields must come last and share their last dimension',
    );
  }
  const head = firstSoftmax >= 0 ? layout.slice(0, firstSoftmax) : layout;
  const elementwise = interfaceSize(head);
  const masks = {
    identity: new Float32Array(elementwise),
    sigmoid: new Float32Array(elementwise),
    oneplus: new Float32Array(elementwise),
  };
  let at = 0;
  for (const field of head) {
    masks[field.activation as 'identity' | 'sigmoid' | 'oneplus'].fill(
      1,
      at,
      at + fieldSize(field),
    );
    at += fieldSize(field);
  }
  return { elementwise, ...masks, group };
}

// Every activation of the interface vector in one op with a hand-written gradient (applying
// them field by field launches ~100 kernels per step, forward and backward):
// identity' = 1, sigmoid' = s (1 - s), oneplus' = softplus' = s, and for each softmax group
// p: dx = p * (g - sum(g p)).
function activationOp(plan: ActivationPlan): (x: tf.Tensor) => tf.Tensor {
  return customGradient<[tf.Tensor]>(([x], save) => {
    const [batch, size] = x.shape as [number, number];
    const tail = size - plan.elementwise;
    const head = tail === 0 ? x : tf.slice(x, [0, 0], [batch, plan.elementwise]);
    const s = tf.sigmoid(head);
    const activated = tf.addN([
      tf.mul(head, tf.tensor1d(plan.identity)),
      tf.mul(s, tf.tensor1d(plan.sigmoid)),
      tf.mul(tf.add(1, tf.softplus(head)), tf.tensor1d(plan.oneplus)),
    ]);
    if (tail === 0) {
      save([s]);
      return { value: activated, gradFunc: (dy, [saved]) => headGradient(dy, saved as tf.Tensor) };
    }
    const p = tf.softmax(
      tf
        .slice(x, [0, plan.elementwise], [batch, tail])
        .reshape([batch, tail / plan.group, plan.group]),
    );
    save([s, p]);
    return {
      value: tf.concat([activated, p.reshape([batch, tail])], 1),
      gradFunc: (dy, saved) => {
        const [sig, probabilities] = saved as [tf.Tensor, tf.Tensor3D];
        const g = tf.slice(dy, [0, plan.elementwise], [batch, tail]).reshape(probabilities.shape);
        const dTail = tf.mul(probabilities, tf.sub(g, tf.sum(tf.mul(g, probabilities), 2, true)));
        const dHead = headGradient(tf.slice(dy, [0, 0], [batch, plan.elementwise]), sig);
        return tf.concat([dHead, dTail.reshape([batch, tail])], 1);
      },
    };
  });

  function headGradient(dy: tf.Tensor, s: tf.Tensor): tf.Tensor {
    const sigmoidSlope = tf.mul(tf.mul(s, tf.sub(1, s)), tf.tensor1d(plan.sigmoid));
    const slope = tf.add(
      tf.add(sigmoidSlope, tf.mul(s, tf.tensor1d(plan.oneplus))),
      tf.tensor1d(plan.identity),
    );
    return tf.mul(dy, slope);
  }
}

const activationOps = new WeakMap<readonly InterfaceField[], (x: tf.Tensor) => tf.Tensor>();

/**
 * Splits the interface vector into its fields and applies each field's activation (one op for
 * all activations, one split): the only place activations are applied.
 *
 * @param vector - xi_t, [B, interfaceSize(layout)]
 */
export function parseInterface(
  vector: tf.Tensor2D,
  layout: readonly InterfaceField[],
): DncInterface {
  checkShape('interfaceVector', vector, [null, interfaceSize(layout)], '[B, interfaceSize]');
  const batch = vector.shape[0];
  let activate = activationOps.get(layout);
  if (!activate) {
    activate = activationOp(activationPlan(layout));
    activationOps.set(layout, activate);
  }
  const op = activate;
  return tidy(() => {
    const parts = tf.split(op(vector), layout.map(fieldSize), 1);
    const out: Record<string, tf.Tensor> = {};
    layout.forEach((field, i) => {
      const part = parts[i] as tf.Tensor;
      out[field.name] = field.shape.length === 1 ? part : part.reshape([batch, ...field.shape]);
    });
    return out as unknown as DncInterface;
  });
}
