// @ts-check
/**
 * The neural stack's fast path: one step of `StackMemory` (squashing the interface vector,
 * the pop, the push, the read weights and the read with the bottom vector) as a single TF.js
 * op with a hand-written forward and backward pass over typed arrays. Built from public
 * exports of the kernel layer `@mann/core/fused` only: `defineFusedOp`, which registers the
 * op as a TF.js kernel with its gradient, the row kernels (the read is a row mix of the values, its gradient a row
 * dot and a row update; WebAssembly SIMD when the width is a multiple of 4 and SIMD is
 * available, plain JS otherwise), the pooled arrays that hold the forward pass's tape until
 * the backward pass, and the zeroed scratch of the backward pass.
 *
 * `StackMemory` with `implementation: 'fused'` uses it; the composed TF.js ops of
 * `stack-memory.mjs` are its reference, and `packages/bench/test/stack-fused.test.ts` holds the
 * two to the same values and gradients.
 *
 * The equations are those of `stack-memory.mjs` (newest row first), per sequence, with
 * s = s_{t-1}, V = V_{t-1} and xi = [z_v ; z_d ; z_u]:
 *
 *   v = tanh(z_v), d = sigmoid(z_d), u = sigmoid(z_u)
 *   a[k] = sum_{j<k} s[j];  e[k] = relu(u - a[k]);  p[k] = relu(s[k] - e[k])     (pop)
 *   s'[0] = d, s'[k] = p[k - 1];  V'[0] = v, V'[k] = V[k - 1]                      (push)
 *   A[k] = sum_{j<k} s'[j];  q[k] = 1 - A[k];  w[k] = min(s'[k], relu(q[k]))       (weights)
 *   rest = 1 - sum_k w[k];  r = sum_k w[k] V'[k] + relu(rest) b                    (read)
 *
 * The kinks take TF.js's one-sided gradients, so the two implementations agree there too:
 * relu passes the gradient where its input is > 0, and min(a, b) gives it to a where a <= b.
 */
import * as tf from '@tensorflow/tfjs';
import {
  copyRows,
  defineFusedOp,
  PooledArrays,
  rowKernelsFor,
  rowView,
  scratch,
  scratch32,
} from '@mann/core/fused';

/**
 * Sizes of one fused stack step.
 * @typedef {object} StackStepSpec
 * @property {number} width m, the width of a stack value.
 * @property {number} depth D, the rows kept.
 */

/**
 * The outputs of a fused step: the read r_t [B, m], the new strengths s_t [B, D], the read
 * weights w [B, D], the pop strength u_t [B, 1] and the new values V_t [B, D, m]. (The push
 * strength d_t is s_t[0].)
 * @typedef {object} FusedStackOutputs
 * @property {tf.Tensor2D} reads
 * @property {tf.Tensor2D} strengths
 * @property {tf.Tensor2D} weights
 * @property {tf.Tensor2D} pop
 * @property {tf.Tensor3D} values
 */

/**
 * The fused step as a TF.js op: the raw interface vector [B, m + 2], V_{t-1} [B, D, m],
 * s_{t-1} [B, D] and the bottom vector b [m] to {@link FusedStackOutputs}.
 * @typedef {(
 *   interfaceVector: tf.Tensor2D,
 *   values: tf.Tensor3D,
 *   strengths: tf.Tensor2D,
 *   bottom: tf.Tensor,
 * ) => FusedStackOutputs} FusedStackStep
 */

/**
 * Where each output sits in a row of the forward pass's packed output (the kernel's own layout:
 * the op hands the outputs out as tensors of their own), and the row's width: the read r_t
 * [m], the new strengths s_t [D], the read weights w [D], the pop strength u_t [1], the new
 * values V_t [D m]. (The push strength d_t is s_t[0].)
 * @param {StackStepSpec} spec
 */
export function packedLayout({ width: m, depth: D }) {
  const reads = 0;
  const strengths = reads + m;
  const weights = strengths + D;
  const pop = weights + D;
  const values = pop + 1;
  return { reads, strengths, weights, pop, values, size: values + D * m };
}

/**
 * Width of one row of the fused step's packed output: m + 2 D + 1 + D m.
 * @param {StackStepSpec} spec
 * @returns {number}
 */
export const packedStackSize = (spec) => packedLayout(spec).size;

/** @param {number} x */
const sigmoid = (x) => 1 / (1 + Math.exp(-x));

/**
 * What the forward pass keeps for the backward pass, flattened over the batch.
 * @typedef {object} StackTape
 * @property {Float32Array} strengths s_{t-1} [B, D] (a copy of the input)
 * @property {Float32Array} value v [B, m]
 * @property {Float32Array} push d [B]
 * @property {Float32Array} pop u [B]
 * @property {Float32Array} above a [B, D]
 * @property {Float32Array} taken e [B, D]
 * @property {Float32Array} next s' [B, D]
 * @property {Float32Array} headroom q [B, D]
 * @property {Float32Array} weights w [B, D]
 * @property {Float32Array} rest 1 - sum_k w[k], [B]
 * @property {Float32Array} values V' [B, D, m]
 */

/**
 * The inputs of one step as arrays.
 * @typedef {object} StackStepInputs
 * @property {Float32Array} interfaceVector xi [B, m + 2], raw
 * @property {Float32Array} values V_{t-1} [B, D, m]
 * @property {Float32Array} strengths s_{t-1} [B, D]
 * @property {Float32Array} bottom b [m]
 */

/**
 * The forward pass over typed arrays, sequence by sequence. Never writes to `inputs`.
 * @param {StackStepSpec} spec
 * @param {number} batch B
 * @param {StackStepInputs} inputs
 * @param {import('@mann/core/fused').Allocator} arrays where the tape's arrays come from
 * @returns {{ packed: Float32Array, tape: StackTape }} the packed output [B, size] (a new
 *   array) and what the backward pass needs
 */
export function stackStepForward(spec, batch, inputs, arrays) {
  const { width: m, depth: D } = spec;
  const layout = packedLayout(spec);
  const kernels = rowKernelsFor(m);
  const { interfaceVector: xi, values, strengths, bottom } = inputs;
  /** @type {StackTape} */
  const tape = {
    strengths: arrays.floats(batch * D),
    value: arrays.floats(batch * m),
    push: arrays.floats(batch),
    pop: arrays.floats(batch),
    above: arrays.floats(batch * D),
    taken: arrays.floats(batch * D),
    next: arrays.floats(batch * D),
    headroom: arrays.floats(batch * D),
    weights: arrays.floats(batch * D),
    rest: arrays.floats(batch),
    values: arrays.floats(batch * D * m),
  };
  tape.strengths.set(strengths.subarray(0, batch * D));
  const packed = new Float32Array(batch * layout.size);
  for (let b = 0; b < batch; b++) {
    const x = b * (m + 2);
    const row = b * D;
    for (let c = 0; c < m; c++) tape.value[b * m + c] = Math.tanh(num(xi[x + c]));
    tape.push[b] = sigmoid(num(xi[x + m]));
    tape.pop[b] = sigmoid(num(xi[x + m + 1]));
    const u = num(tape.pop[b]);
    // Pop, then push: s'[0] = d, s'[k + 1] = p[k]. The Float32Arrays round every stored value
    // to float32, as the reference's ops do; the running sums are rounded the same way.
    tape.next[row] = num(tape.push[b]);
    let above = 0; // a[k]
    for (let k = 0; k < D; k++) {
      tape.above[row + k] = above;
      tape.taken[row + k] = Math.max(0, u - above);
      const s = num(strengths[row + k]);
      if (k + 1 < D) tape.next[row + k + 1] = Math.max(0, s - num(tape.taken[row + k]));
      above = Math.fround(above + s);
    }
    // Read weights, from the top down.
    let aboveNext = 0; // A[k]
    let total = 0;
    for (let k = 0; k < D; k++) {
      const s = num(tape.next[row + k]);
      tape.headroom[row + k] = 1 - aboveNext;
      tape.weights[row + k] = Math.min(s, Math.max(0, num(tape.headroom[row + k])));
      aboveNext = Math.fround(aboveNext + s);
      total += num(tape.weights[row + k]);
    }
    tape.rest[b] = 1 - total;
    // V' = [v ; V[0 .. D - 2]]: the push moves every row down one.
    const next = tape.values.subarray(row * m, (row + D) * m);
    next.set(tape.value.subarray(b * m, (b + 1) * m), 0);
    next.set(values.subarray(row * m, (row + D - 1) * m), m);
    // r = sum_k w[k] V'[k] + relu(rest) b: a row mix, then the bottom.
    const out = b * layout.size;
    const read = packed.subarray(out + layout.reads, out + layout.reads + m);
    kernels.mix(D, m, next, tape.weights.subarray(row, row + D), 1, read);
    const rest = Math.max(0, num(tape.rest[b]));
    for (let c = 0; c < m; c++) read[c] = num(read[c]) + rest * num(bottom[c]);
    packed.set(tape.next.subarray(row, row + D), out + layout.strengths);
    packed.set(tape.weights.subarray(row, row + D), out + layout.weights);
    packed[out + layout.pop] = u;
    packed.set(next, out + layout.values);
  }
  return { packed, tape };
}

/**
 * The gradients of one step's inputs, as arrays.
 * @typedef {object} StackStepGradients
 * @property {Float32Array} interfaceVector dL/dxi [B, m + 2]
 * @property {Float32Array} values dL/dV_{t-1} [B, D, m]
 * @property {Float32Array} strengths dL/ds_{t-1} [B, D]
 * @property {Float32Array} bottom dL/db [m]
 */

/**
 * The backward pass: the gradients of the four inputs from that of the packed output.
 * @param {StackStepSpec} spec
 * @param {number} batch B
 * @param {Float32Array} bottom b [m]
 * @param {StackTape} tape from {@link stackStepForward}
 * @param {Float32Array} dPacked dL/d(packed output) [B, size]
 * @returns {StackStepGradients} new arrays
 */
export function stackStepBackward(spec, batch, bottom, tape, dPacked) {
  const { width: m, depth: D } = spec;
  const layout = packedLayout(spec);
  const kernels = rowKernelsFor(m);
  /** @type {StackStepGradients} */
  const grads = {
    interfaceVector: new Float32Array(batch * (m + 2)),
    values: new Float32Array(batch * D * m),
    strengths: new Float32Array(batch * D),
    bottom: new Float32Array(m),
  };
  // Per sequence: dL/dV' [D, m], dL/dw [D], dL/ds' [D], r's gradient [m] and V'[k] . dL/dr.
  const dValues = scratch32('stack-d-values', D * m);
  const dWeights = scratch('stack-d-weights', D);
  const dNext = scratch('stack-d-next', D);
  const dRead = scratch('stack-d-read', m);
  const readDots = scratch32('stack-read-dots', D);
  for (let b = 0; b < batch; b++) {
    const row = b * D;
    const at = b * layout.size;
    dValues.set(dPacked.subarray(at + layout.values, at + layout.values + D * m));
    for (let c = 0; c < m; c++) dRead[c] = num(dPacked[at + layout.reads + c]);
    const next = tape.values.subarray(row * m, (row + D) * m);
    const weights = tape.weights.subarray(row, row + D);
    // r = sum_k w[k] V'[k] + relu(rest) b, rest = 1 - sum_k w[k]
    const rest = num(tape.rest[b]);
    let dRest = 0;
    for (let c = 0; c < m; c++) {
      dRest += num(dRead[c]) * num(bottom[c]);
      grads.bottom[c] = num(grads.bottom[c]) + Math.max(0, rest) * num(dRead[c]);
    }
    if (!(rest > 0)) dRest = 0;
    kernels.dots(D, m, next, dRead, 1, readDots); // dL/dw[k] from the read: V'[k] . dL/dr
    kernels.update(D, m, dValues, next, weights, dRead, 1, null); // dL/dV'[k] += w[k] dL/dr
    for (let k = 0; k < D; k++) {
      dWeights[k] = num(dPacked[at + layout.weights + k]) + num(readDots[k]) - dRest;
    }
    // w[k] = min(s'[k], relu(q[k])), q[k] = 1 - sum_{j<k} s'[j]. dLater: the sum over k' > k
    // of dL/d(sum_{j<k'} s'[j]), which every s'[k] above row k' receives.
    let dLater = 0;
    for (let k = D - 1; k >= 0; k--) {
      const s = num(tape.next[row + k]);
      const q = num(tape.headroom[row + k]);
      const dw = num(dWeights[k]);
      let ds = num(dPacked[at + layout.strengths + k]) + dLater;
      if (s <= Math.max(0, q)) ds += dw;
      else if (q > 0) dLater -= dw;
      dNext[k] = ds;
    }
    // Push: s'[0] = d, s'[k + 1] = p[k]; V'[0] = v, V'[k + 1] = V[k].
    const x = b * (m + 2);
    const d = num(tape.push[b]);
    grads.interfaceVector[x + m] = num(dNext[0]) * d * (1 - d);
    for (let c = 0; c < m; c++) {
      const v = num(tape.value[b * m + c]);
      grads.interfaceVector[x + c] = num(dValues[c]) * (1 - v * v);
    }
    grads.values.set(dValues.subarray(m, D * m), row * m);
    // Pop: p[k] = relu(s[k] - e[k]), e[k] = relu(u - a[k]), a[k] = sum_{j<k} s[j].
    const u = num(tape.pop[b]);
    let du = num(dPacked[at + layout.pop]); // u's own output (a trace)
    dLater = 0;
    for (let k = D - 1; k >= 0; k--) {
      const dp = k + 1 < D ? num(dNext[k + 1]) : 0; // p[D - 1] falls off
      const g = num(tape.strengths[row + k]) - num(tape.taken[row + k]) > 0 ? dp : 0;
      grads.strengths[row + k] = g + dLater;
      if (u - num(tape.above[row + k]) > 0) {
        du -= g; // dL/de[k] = -g
        dLater += g; // dL/da[k] = -dL/de[k]
      }
    }
    grads.interfaceVector[x + m + 1] = du * u * (1 - u);
  }
  return grads;
}

/**
 * What one call of the op carries from its forward to its backward pass.
 * @typedef {object} StackCall
 * @property {StackStepSpec} spec
 * @property {number} [batch]
 * @property {Float32Array} [bottom] the bottom vector's values (a copy)
 * @property {StackTape} [tape]
 * @property {PooledArrays} [arrays] the pool holding the tape
 */

/** The op's outputs, in order, with their widths per sequence (see {@link packedLayout}). */
const OUTPUTS = /** @type {const} */ (['reads', 'strengths', 'weights', 'pop', 'values']);

/**
 * Per output: where it starts in a packed row, and its shape for a batch.
 * @param {StackStepSpec} spec
 * @param {number} batch
 */
function outputLayout(spec, batch) {
  const { width: m, depth: D } = spec;
  const at = packedLayout(spec);
  return [
    { from: at.reads, size: m, shape: [batch, m] },
    { from: at.strengths, size: D, shape: [batch, D] },
    { from: at.weights, size: D, shape: [batch, D] },
    { from: at.pop, size: 1, shape: [batch, 1] },
    { from: at.values, size: D * m, shape: [batch, D, m] },
  ];
}

/**
 * One stack step as a TF.js kernel with a hand-written gradient, registered with
 * `defineFusedOp` from `@mann/core/fused` (the way the NTM's and the DNC's fused ops are):
 * the forward and backward passes above on the inputs' values, with the per-call
 * {@link StackCall} as context. Its five outputs are tensors of their own (see
 * {@link FusedStackStep}); gradients flow to all four inputs.
 */
const stackStepOp = defineFusedOp(
  /** @type {import('@mann/core/fused').FusedOpDefinition<StackCall>} */ ({
    name: 'MannExampleStackStep',
    forward(inputs, call) {
      const { spec } = call;
      const interfaceVector = inputs.floats('interfaceVector');
      const batch = interfaceVector.length / (spec.width + 2);
      // the bottom outlives the call (the backward pass reads it): a copy
      const bottom = inputs.floats('bottom').slice();
      // the tape lives until the backward pass gives it back to the pool (or, when no
      // gradient is asked for, until it is garbage collected)
      const arrays = new PooledArrays();
      const { packed, tape } = stackStepForward(
        spec,
        batch,
        {
          interfaceVector,
          values: inputs.floats('values'),
          strengths: inputs.floats('strengths'),
          bottom,
        },
        arrays,
      );
      Object.assign(call, { batch, bottom, tape, arrays });
      const size = packedStackSize(spec);
      return outputLayout(spec, batch).map(({ from, size: width, shape }) => {
        const values = new Float32Array(batch * width);
        copyRows(batch, width, rowView(packed, from, size), rowView(values, 0, width));
        return { values, shape };
      });
    },
    backward(dy, call) {
      const { spec, batch, bottom, tape, arrays } = /** @type {Required<StackCall>} */ (call);
      const { width: m, depth: D } = spec;
      // dL/d(outputs) packed side by side, as stackStepBackward takes them
      const size = packedStackSize(spec);
      const dPacked = new Float32Array(batch * size);
      outputLayout(spec, batch).forEach(({ from, size: width }, i) => {
        const d = /** @type {Float32Array} */ (dy[i]);
        copyRows(batch, width, rowView(d, 0, width), rowView(dPacked, from, size));
      });
      const grads = stackStepBackward(spec, batch, bottom, tape, dPacked);
      arrays.release();
      Object.assign(call, { tape: undefined, arrays: undefined });
      return {
        interfaceVector: () => tf.tensor2d(grads.interfaceVector, [batch, m + 2]),
        values: () => tf.tensor3d(grads.values, [batch, D, m]),
        strengths: () => tf.tensor2d(grads.strengths, [batch, D]),
        bottom: () => tf.tensor1d(grads.bottom),
      };
    },
  }),
);

/**
 * The fused step for `spec`: see {@link FusedStackStep}.
 * @param {StackStepSpec} spec
 * @returns {FusedStackStep}
 */
export function createFusedStackStep(spec) {
  return (interfaceVector, values, strengths, bottom) => {
    const outputs = stackStepOp({ interfaceVector, values, strengths, bottom }, { spec });
    return /** @type {FusedStackOutputs} */ (
      Object.fromEntries(OUTPUTS.map((name, i) => [name, outputs[i]]))
    );
  };
}

/**
 * An element of a typed array as a number (for the type checker: indexing may be undefined).
 * @param {number | undefined} x
 * @returns {number}
 */
function num(x) {
  return /** @type {number} */ (x);
}
