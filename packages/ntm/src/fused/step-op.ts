import * as tf from '@tensorflow/tfjs';
import { customGradient } from '@mann/core';
import {
  allocateStepOutputs,
  allocateStepTape,
  createStepScratch,
  memoryStepBackward,
  memoryStepForward,
} from './memory-step.js';
import type { MemoryStepSpec } from './memory-step.js';
import { copyRows, rowView } from '@mann/core/fused';

/** The fused step as a TF.js op: the four inputs, as tensors, to the packed output. */
export type FusedStepOp = (
  interfaceVector: tf.Tensor2D,
  memory: tf.Tensor3D,
  readWeights: tf.Tensor3D,
  writeWeights: tf.Tensor3D,
) => tf.Tensor2D;

/**
 * Width of one batch element's row of the packed output of {@link createFusedStepOp}: the
 * read vectors [R W], then the new memory [N W], then the new weightings of the R read heads
 * and the Hw write heads [(R + Hw) N].
 */
export function packedStepSize(spec: MemoryStepSpec): number {
  const { slots: n, width: w, readHeads: r, writeHeads: hw } = spec;
  return r * w + n * w + (r + hw) * n;
}

/**
 * One NTM memory step as a single TF.js op with a hand-written gradient (`customGradient`):
 * the forward and backward passes of `memory-step.ts` on the inputs' values. A custom op has one
 * output, so the result is packed, [B, packedStepSize(spec)]; the caller slices it apart.
 * Gradients flow to all four inputs.
 *
 * Inputs: the raw interface vector [B, interfaceSize], M_{t-1} [B, N, W], w^r_{t-1}
 * [B, R, N] and w^w_{t-1} [B, Hw, N].
 */
export function createFusedStepOp(spec: MemoryStepSpec): FusedStepOp {
  const { slots: n, width: w, readHeads: r, writeHeads: hw } = spec;
  const size = packedStepSize(spec);
  const work = createStepScratch(spec);
  const op = customGradient<[tf.Tensor2D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]>(
    ([interfaceVector, memory, readWeights, writeWeights]) => {
      const batch = interfaceVector.shape[0];
      // w_{t-1} of all heads, [B, R + Hw, N]
      const previous = new Float32Array(batch * (r + hw) * n);
      copyRows(
        batch,
        r * n,
        rowView(readWeights.dataSync() as Float32Array, 0, r * n),
        rowView(previous, 0, (r + hw) * n),
      );
      copyRows(
        batch,
        hw * n,
        rowView(writeWeights.dataSync() as Float32Array, 0, hw * n),
        rowView(previous, r * n, (r + hw) * n),
      );
      const inputs = {
        // dataSync: a copy of the wasm heap; on cpu the tensor's own array, only ever read
        interfaceVector: interfaceVector.dataSync() as Float32Array,
        memory: memory.dataSync() as Float32Array,
        previous,
      };
      const outputs = allocateStepOutputs(spec, batch);
      const tape = allocateStepTape(spec, batch);
      memoryStepForward(spec, inputs, outputs, tape, work);
      const packed = new Float32Array(batch * size);
      copyRows(batch, r * w, rowView(outputs.reads, 0, r * w), rowView(packed, 0, size));
      copyRows(batch, n * w, rowView(outputs.memory, 0, n * w), rowView(packed, r * w, size));
      copyRows(
        batch,
        (r + hw) * n,
        rowView(outputs.weights, 0, (r + hw) * n),
        rowView(packed, r * w + n * w, size),
      );
      return {
        value: tf.tensor2d(packed, [batch, size]),
        gradFunc: (dy) => {
          const dPacked = dy.dataSync() as Float32Array;
          const dReads = new Float32Array(batch * r * w);
          const dMemory = new Float32Array(batch * n * w);
          const dWeights = new Float32Array(batch * (r + hw) * n);
          copyRows(batch, r * w, rowView(dPacked, 0, size), rowView(dReads, 0, r * w));
          copyRows(batch, n * w, rowView(dPacked, r * w, size), rowView(dMemory, 0, n * w));
          copyRows(
            batch,
            (r + hw) * n,
            rowView(dPacked, r * w + n * w, size),
            rowView(dWeights, 0, (r + hw) * n),
          );
          const grads = {
            interfaceVector: new Float32Array(inputs.interfaceVector.length),
            memory: new Float32Array(inputs.memory.length),
            previous: new Float32Array(previous.length),
          };
          memoryStepBackward(
            spec,
            inputs,
            outputs,
            tape,
            { reads: dReads, memory: dMemory, weights: dWeights },
            grads,
            work,
          );
          const dRead = new Float32Array(batch * r * n);
          const dWrite = new Float32Array(batch * hw * n);
          copyRows(
            batch,
            r * n,
            rowView(grads.previous, 0, (r + hw) * n),
            rowView(dRead, 0, r * n),
          );
          copyRows(
            batch,
            hw * n,
            rowView(grads.previous, r * n, (r + hw) * n),
            rowView(dWrite, 0, hw * n),
          );
          return [
            tf.tensor2d(grads.interfaceVector, interfaceVector.shape),
            tf.tensor3d(grads.memory, memory.shape),
            tf.tensor3d(dRead, readWeights.shape),
            tf.tensor3d(dWrite, writeWeights.shape),
          ];
        },
      };
    },
  );
  return (interfaceVector, memory, readWeights, writeWeights) =>
    op(interfaceVector, memory, readWeights, writeWeights) as tf.Tensor2D;
}
