import * as tf from '@tensorflow/tfjs';
import { MannError } from '@mann/core';
import {
  allocateStepOutputs,
  allocateStepTape,
  createStepScratch,
  memoryStepBackward,
  memoryStepForward,
} from './memory-step.js';
import type {
  MemoryStepInputs,
  MemoryStepOutputs,
  MemoryStepSpec,
  MemoryStepTape,
  StepScratch,
} from './memory-step.js';
import { copyRows, defineFusedOp, rowView } from '@mann/core/fused';

/** The fused step as a TF.js op: the four inputs, as tensors, to r_t, M_t, w^r_t and w^w_t. */
export type FusedStepOp = (
  interfaceVector: tf.Tensor2D,
  memory: tf.Tensor3D,
  readWeights: tf.Tensor3D,
  writeWeights: tf.Tensor3D,
) => [tf.Tensor2D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];

/** What one call keeps for its backward pass. */
interface CallContext {
  readonly spec: MemoryStepSpec;
  readonly work: StepScratch;
  batch?: number;
  inputs?: MemoryStepInputs;
  outputs?: MemoryStepOutputs;
  tape?: MemoryStepTape;
}

/** Copies rows [B, width] into (or, with `back`, out of) the columns from `offset` of [B, stride]. */
function columns(
  batch: number,
  width: number,
  part: Float32Array,
  whole: Float32Array,
  offset: number,
  stride: number,
  back = false,
): void {
  if (back) copyRows(batch, width, rowView(whole, offset, stride), rowView(part, 0, width));
  else copyRows(batch, width, rowView(part, 0, width), rowView(whole, offset, stride));
}

const stepOp = defineFusedOp<CallContext>({
  name: 'MannNtmFusedStep',
  forward(read, context) {
    const { spec, work } = context;
    const { slots: n, width: w, readHeads: r, writeHeads: hw } = spec;
    const memory = read.floats('memory');
    const batch = memory.length / (n * w);
    // w_{t-1} of all heads, [B, R + Hw, N]
    const previous = new Float32Array(batch * (r + hw) * n);
    columns(batch, r * n, read.floats('readWeights'), previous, 0, (r + hw) * n);
    columns(batch, hw * n, read.floats('writeWeights'), previous, r * n, (r + hw) * n);
    // on cpu the tensors' own arrays, only ever read
    const inputs = { interfaceVector: read.floats('interfaceVector'), memory, previous };
    const outputs = allocateStepOutputs(spec, batch);
    const tape = allocateStepTape(spec, batch);
    memoryStepForward(spec, inputs, outputs, tape, work);
    Object.assign(context, { batch, inputs, outputs, tape });
    const readWeights = new Float32Array(batch * r * n);
    const writeWeights = new Float32Array(batch * hw * n);
    columns(batch, r * n, readWeights, outputs.weights, 0, (r + hw) * n, true);
    columns(batch, hw * n, writeWeights, outputs.weights, r * n, (r + hw) * n, true);
    return [
      { values: outputs.reads, shape: [batch, r * w] },
      { values: outputs.memory, shape: [batch, n, w] },
      { values: readWeights, shape: [batch, r, n] },
      { values: writeWeights, shape: [batch, hw, n] },
    ];
  },
  backward([dReads, dMemory, dRead, dWrite], context) {
    const { spec, work, batch, inputs, outputs, tape } = context;
    if (batch === undefined || !inputs || !outputs || !tape) {
      throw new MannError('fused NTM step: gradient requested before the forward pass ran');
    }
    const { slots: n, width: w, readHeads: r, writeHeads: hw } = spec;
    const dWeights = new Float32Array(batch * (r + hw) * n);
    columns(batch, r * n, dRead as Float32Array, dWeights, 0, (r + hw) * n);
    columns(batch, hw * n, dWrite as Float32Array, dWeights, r * n, (r + hw) * n);
    const grads = {
      interfaceVector: new Float32Array(inputs.interfaceVector.length),
      memory: new Float32Array(inputs.memory.length),
      previous: new Float32Array(inputs.previous.length),
    };
    memoryStepBackward(
      spec,
      inputs,
      outputs,
      tape,
      { reads: dReads as Float32Array, memory: dMemory as Float32Array, weights: dWeights },
      grads,
      work,
    );
    // The tape node keeps the context until the gradient computation ends: let go of the arrays.
    Object.assign(context, { inputs: undefined, outputs: undefined, tape: undefined });
    const dPreviousRead = new Float32Array(batch * r * n);
    const dPreviousWrite = new Float32Array(batch * hw * n);
    columns(batch, r * n, dPreviousRead, grads.previous, 0, (r + hw) * n, true);
    columns(batch, hw * n, dPreviousWrite, grads.previous, r * n, (r + hw) * n, true);
    return {
      interfaceVector: () =>
        tf.tensor2d(grads.interfaceVector, [batch, grads.interfaceVector.length / batch]),
      memory: () => tf.tensor3d(grads.memory, [batch, n, w]),
      readWeights: () => tf.tensor3d(dPreviousRead, [batch, r, n]),
      writeWeights: () => tf.tensor3d(dPreviousWrite, [batch, hw, n]),
    };
  },
});

/**
 * One NTM memory step as a single TF.js kernel with a hand-written gradient
 * (`defineFusedOp`): the forward and backward passes of `memory-step.ts` on the inputs'
 * values. Gradients flow to all four inputs.
 *
 * Inputs: the raw interface vector [B, interfaceSize], M_{t-1} [B, N, W], w^r_{t-1}
 * [B, R, N] and w^w_{t-1} [B, Hw, N]. Outputs: r_t [B, R W], M_t [B, N, W], w^r_t [B, R, N]
 * and w^w_t [B, Hw, N].
 */
export function createFusedStepOp(spec: MemoryStepSpec): FusedStepOp {
  const work = createStepScratch(spec);
  return (interfaceVector, memory, readWeights, writeWeights) =>
    stepOp({ interfaceVector, memory, readWeights, writeWeights }, { spec, work }) as [
      tf.Tensor2D,
      tf.Tensor3D,
      tf.Tensor3D,
      tf.Tensor3D,
    ];
}
