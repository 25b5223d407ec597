import * as tf from '@tensorflow/tfjs';
import { checkShape, MannError } from '@mann/core';
import type { DncMemoryConfig } from '../config.js';
import type { DncState } from '../state.js';
import { isSparseLink } from '../sparse-link.js';
import { fusedStepSpec, type FusedStepSpec } from './spec.js';
import {
  allocateOutputs,
  stepBackward,
  stepForward,
  type StepInputs,
  type StepOutputs,
  type StepTape,
} from './memory-step.js';
import type { LinkArrays } from './link-pass.js';
import { denseLinkPass, type LinkPass } from './link-pass.js';
import { acquireLinkRuntime, simdLinkKernelsOn } from './link-kernels.js';
import {
  defineFusedOp,
  jsRowKernels,
  rowKernelsOn,
  type RowKernels,
  type SimdRuntime,
} from '@mann/core/fused';
import { sparseLinkPass, initialSparseLinkArrays } from './sparse-link-pass.js';
import {
  addLinkGradient,
  isResidentLink,
  linkRecord,
  residentLink,
  type LinkRecord,
} from './resident-link.js';

// The fused step as ONE TF.js kernel with a hand-written gradient (`defineFusedOp`) rather
// than a `tf.customGrad` op, because a custom-gradient op has a single output: packing the
// seven outputs into one tensor and slicing them apart costs ~7 slice kernels forward and
// ~13 pad/add kernels backward per step, more than the step itself. The JS state of a call
// (the forward pass's tape) travels to the gradient in its context.

/** A whole-sequence call's runtime, from {@link FusedMemoryStep.residentLinks}. */
export interface ResidentRun {
  /** Holds every step's dense link, and `tapeFloats` floats for the call's other arrays. */
  readonly runtime: SimdRuntime;
  /** The dense link pass on the runtime. */
  readonly pass: LinkPass;
  /** The row kernels on the runtime (content, allocation, weightings and reads use them). */
  readonly rows: RowKernels;
  /** Floats of the runtime the call's other arrays may take as views (0 on a first call). */
  readonly tapeFloats: number;
}

/** Everything one call shares between its forward and its backward pass. */
interface CallContext {
  readonly step: FusedMemoryStep;
  readonly batch: number;
  /** The link read by this call when it is a resident one (its gradient goes back there). */
  readonly prevRecord: LinkRecord | null;
  /** The dense link input's shape when it is a tensor (its gradient is a tensor). */
  readonly linkShape: readonly number[];
  inputs?: StepInputs;
  outputs?: StepOutputs;
  tape?: StepTape;
  nextRecord?: LinkRecord;
}

const stepOp = defineFusedOp<CallContext>({
  name: 'MannDncFusedStep',
  forward(read, context) {
    const { spec, linkPass } = context.step;
    let link: LinkArrays;
    if (context.prevRecord) link = context.prevRecord.arrays;
    else if (read.has('linkColumns')) {
      link = { values: read.floats('link'), columns: read.ints('linkColumns') };
    } else link = { values: read.floats('link'), columns: null };
    const stepInputs: StepInputs = {
      interfaceVector: read.floats('interfaceVector'),
      memory: read.floats('memory'),
      usage: read.floats('usage'),
      precedence: read.floats('precedence'),
      readWeights: read.floats('readWeights'),
      writeWeights: read.floats('writeWeights'),
      link,
    };
    const outputs = allocateOutputs(spec, context.batch, linkPass.allocate(context.batch));
    const tape = stepForward(spec, linkPass, context.batch, stepInputs, outputs);
    context.inputs = stepInputs;
    context.outputs = outputs;
    context.tape = tape;
    const { slots: n, width: w, readHeads: r, writeHeads: h } = spec;
    const B = context.batch;
    return [
      { values: outputs.reads, shape: [B, r * w] },
      { values: outputs.memory, shape: [B, n, w] },
      { values: outputs.usage, shape: [B, n] },
      { values: outputs.precedence, shape: [B, h, n] },
      { values: outputs.readWeights, shape: [B, r, n] },
      { values: outputs.writeWeights, shape: [B, h, n] },
      { values: outputs.allocation, shape: [B, h, n] },
      { values: new Float32Array(1), shape: [] }, // the token of the new link
    ];
  },
  backward(dys, context) {
    const { inputs, outputs, tape, nextRecord } = context;
    if (!inputs || !outputs || !tape || !nextRecord) {
      throw new MannError('fused DNC step: gradient requested before the forward pass ran');
    }
    const dLinkNext = nextRecord.grad;
    nextRecord.grad = null;
    const { spec, linkPass } = context.step;
    const grads = stepBackward(spec, linkPass, inputs, outputs, tape, {
      reads: dys[0] as Float32Array,
      memory: dys[1] as Float32Array,
      usage: dys[2] as Float32Array,
      precedence: dys[3] as Float32Array,
      readWeights: dys[4] as Float32Array,
      writeWeights: dys[5] as Float32Array,
      allocation: dys[6] as Float32Array,
      link: dLinkNext,
    });
    // The tape node keeps the context until the gradient computation ends: let go of the arrays.
    context.inputs = undefined;
    context.outputs = undefined;
    context.tape = undefined;
    if (context.prevRecord) addLinkGradient(context.prevRecord, grads.link);
    const { slots: n, width: w, readHeads: r, writeHeads: h, interfaceSize } = spec;
    const B = context.batch;
    const result: Record<string, () => tf.Tensor> = {
      interfaceVector: () => tf.tensor2d(grads.interfaceVector, [B, interfaceSize]),
      memory: () => tf.tensor3d(grads.memory, [B, n, w]),
      usage: () => tf.tensor2d(grads.usage, [B, n]),
      precedence: () => tf.tensor3d(grads.precedence, [B, h, n]),
      readWeights: () => tf.tensor3d(grads.readWeights, [B, r, n]),
      // usage is bookkeeping: no gradient flows into w^w_{t-1} (deepmind/dnc)
      writeWeights: () => tf.zeros([B, h, n]),
      link: () =>
        context.prevRecord ? tf.zeros([]) : tf.tensor(grads.link, [...context.linkShape]),
    };
    if (!context.prevRecord && spec.sparseCapacity > 0) {
      result.linkColumns = () => tf.zeros([...context.linkShape]);
    }
    return result;
  },
});

/**
 * The DNC memory step of a {@link DncMemoryConfig} as one TF.js kernel with a hand-written
 * gradient: forward and backward in plain JS loops over Float32Arrays (the dense link's
 * O(N^2) loops in WebAssembly SIMD where available), with the values and gradients of the
 * composed reference. Covers every option (several write heads, DNC-MD masking, deallocation
 * and link sharpness, sparse links). The link it returns is resident (see `resident-link.ts`).
 */
export class FusedMemoryStep {
  readonly spec: FusedStepSpec;
  readonly linkPass: LinkPass;

  constructor(config: DncMemoryConfig) {
    this.spec = fusedStepSpec(config);
    this.linkPass =
      this.spec.sparseCapacity > 0 ? sparseLinkPass(this.spec) : denseLinkPass(this.spec);
  }

  /**
   * For the whole-sequence op: a runtime of its own holding every step's dense link and, when
   * an earlier call of this batch size has measured them ({@link FusedMemoryStep.noteTape})
   * and all fit in the resident bytes (`acquireLinkRuntime`), the sequence's other arrays; the link pass and the
   * row kernels on it (made once per runtime). Undefined when the links do not fit or SIMD is
   * unavailable.
   */
  residentLinks(batch: number, steps: number): ResidentRun | undefined {
    const { slots: n, readHeads: r, writeHeads: h, sparseCapacity } = this.spec;
    if (sparseCapacity > 0) return undefined;
    const wanted = (this.tapePerStep.get(batch) ?? 0) * steps;
    const acquired = acquireLinkRuntime(batch * h * n * n, steps, r, n, wanted);
    if (!acquired) return undefined;
    const { runtime, tapeFloats } = acquired;
    let kernels = this.residentKernels.get(runtime);
    if (!kernels) {
      // as rowKernelsFor(W), on this runtime: SIMD for W a multiple of 4, else the JS loops
      const rows = (this.spec.width % 4 === 0 ? rowKernelsOn(runtime) : undefined) ?? jsRowKernels;
      kernels = { pass: denseLinkPass(this.spec, simdLinkKernelsOn(runtime)), rows };
      this.residentKernels.set(runtime, kernels);
    }
    return { runtime, ...kernels, tapeFloats };
  }

  /**
   * Records that a whole-sequence call of `batch` examples and `steps` steps asked for
   * `floats` floats of arrays besides its links, so that later calls of this batch size
   * acquire room for them in their runtime (see {@link FusedMemoryStep.residentLinks}).
   */
  noteTape(batch: number, steps: number, floats: number): void {
    const perStep = Math.ceil(floats / Math.max(steps, 1));
    if (perStep > (this.tapePerStep.get(batch) ?? 0)) this.tapePerStep.set(batch, perStep);
  }

  private readonly residentKernels = new WeakMap<
    SimdRuntime,
    { readonly pass: LinkPass; readonly rows: RowKernels }
  >();
  /** Floats of arrays per step besides the links, by batch size, as measured (see noteTape). */
  private readonly tapePerStep = new Map<number, number>();

  /**
   * Floats per step of a whole-sequence call's arrays besides its links that calls of `batch`
   * examples keep in their links' runtime: 0 until a call of that size has measured them, and
   * for sparse links or without SIMD.
   */
  residentFloatsPerStep(batch: number): number {
    return this.tapePerStep.get(batch) ?? 0;
  }

  /** The all-zero link of a batch, resident (see `resident-link.ts`). */
  initialLink(batch: number): tf.Scalar {
    const { slots: n, writeHeads: h, sparseCapacity } = this.spec;
    const arrays =
      sparseCapacity > 0
        ? initialSparseLinkArrays(batch, h, n, sparseCapacity)
        : { values: new Float32Array(batch * h * n * n), columns: null };
    return residentLink(tf.scalar(0), arrays, [batch, h, n, sparseCapacity || n], false);
  }

  /**
   * One step. `state.link` may be a resident link (from a previous fused step or
   * {@link FusedMemoryStep.initialLink}), a dense tensor, or a `SparseLink` of tensors; the
   * gradient flows into whichever it is.
   *
   * @returns r_t [B, R W], the state at t (its link resident), and a_t [B, Hw, N]
   */
  step(
    interfaceVector: tf.Tensor2D,
    state: DncState,
  ): { reads: tf.Tensor2D; state: DncState; allocation: tf.Tensor3D } {
    const { slots: n, writeHeads: h, readHeads: r, sparseCapacity } = this.spec;
    const batch = interfaceVector.shape[0];
    checkShape('state.usage', state.usage, [batch, n], '[B, N]');
    checkShape('state.precedence', state.precedence, [batch, h, n], '[B, Hw, N]');
    checkShape('state.readWeights', state.readWeights, [batch, r, n], '[B, R, N]');
    checkShape('state.writeWeights', state.writeWeights, [batch, h, n], '[B, Hw, N]');
    const link = state.link;
    const inputs: Record<string, tf.Tensor> = {
      interfaceVector,
      memory: state.memory,
      usage: state.usage,
      precedence: state.precedence,
      readWeights: state.readWeights,
      writeWeights: state.writeWeights,
    };
    let prevRecord: LinkRecord | null = null;
    let linkShape: number[] = [];
    const capacity = sparseCapacity || n;
    if (isResidentLink(link)) {
      const record = linkRecord(link);
      if (record.sparse !== sparseCapacity > 0) {
        throw new MannError(
          `state.link must be a ${sparseCapacity > 0 ? 'sparse' : 'dense'} link for this memory`,
        );
      }
      if (record.shape.join() !== [batch, h, n, capacity].join()) {
        throw new MannError(
          `state.link must have shape [${[batch, h, n, capacity].join(', ')}], got [${record.shape.join(', ')}]`,
        );
      }
      checkShape('state.link', link, [], 'a resident link (a scalar token)');
      prevRecord = record;
      inputs.link = link;
    } else if (isSparseLink(link)) {
      if (sparseCapacity === 0)
        throw new MannError('state.link must be a dense link for this memory');
      checkShape('state.link.values', link.values, [batch, h, n, capacity], '[B, Hw, N, K]');
      checkShape('state.link.columns', link.columns, [batch, h, n, capacity], '[B, Hw, N, K]');
      inputs.link = link.values;
      inputs.linkColumns = link.columns;
      linkShape = link.values.shape;
    } else {
      if (sparseCapacity > 0)
        throw new MannError('state.link must be a sparse link for this memory');
      checkShape('state.link', link, [batch, h, n, n], '[B, Hw, N, N]');
      inputs.link = link;
      linkShape = link.shape;
    }
    const context: CallContext = { step: this, batch, prevRecord, linkShape };
    const outputs = stepOp(inputs, context);
    const [reads, memory, usage, precedence, readWeights, writeWeights, allocation, token] =
      outputs as [
        tf.Tensor2D,
        tf.Tensor3D,
        tf.Tensor2D,
        tf.Tensor3D,
        tf.Tensor3D,
        tf.Tensor3D,
        tf.Tensor3D,
        tf.Scalar,
      ];
    const arrays = (context.outputs as StepOutputs).link;
    const next = residentLink(token, arrays, [batch, h, n, capacity]);
    context.nextRecord = linkRecord(next);
    return {
      reads,
      state: { memory, usage, link: next, precedence, readWeights, writeWeights },
      allocation,
    };
  }
}
