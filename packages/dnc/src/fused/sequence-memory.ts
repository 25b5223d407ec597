import type * as tf from '@tensorflow/tfjs';
import { checkShape } from '@mann/core';
import { PooledArrays, releaseSimdRuntime, rowKernelsFor } from '@mann/core/fused';
import type {
  Allocator,
  FusedInputs,
  RowKernels,
  SequenceMemory,
  SequenceMemoryRun,
  SimdRuntime,
} from '@mann/core/fused';
import type { DncState } from '../state.js';
import { isSparseLink } from '../sparse-link.js';
import {
  allocateOutputs,
  stepBackward,
  stepForward,
  type InputGradients,
  type StepInputs,
  type StepOutputs,
  type StepTape,
} from './memory-step.js';
import type { LinkArrays, LinkPass } from './link-pass.js';
import { addLinkGradient, isResidentLink, linkRecord, type LinkRecord } from './resident-link.js';
import type { FusedMemoryStep } from './step-op.js';

// The fused DNC memory step as core's whole-sequence op drives it (`@mann/core/fused`'s
// `fusedSequence`). The initial link may be resident (its gradient goes back to the steps that
// made it), a dense tensor or a sparse link of tensors; where they fit, every step's dense link
// lives in a SIMD runtime of its own (`FusedMemoryStep.residentLinks`), and from the second call
// of a batch size on, so do the steps' outputs, tapes and gradients: every SIMD kernel of the
// step then runs on that runtime and reads and writes them in place. The per-call state is
// a `DncRun` object: closures made per call would make V8 re-optimise the hot callers.

/** Link arrays handed out as views of a runtime's memory. */
class ViewArrays implements Allocator {
  constructor(private readonly runtime: SimdRuntime) {}
  floats(size: number): Float32Array {
    return this.runtime.view(size, false); // a link: overwritten by the step that makes it
  }
  ints(): Int32Array {
    throw new Error('dense links have no columns');
  }
}

/**
 * A call's other float arrays (the steps' outputs, tapes and gradients) as views of the links'
 * runtime while its `budget` lasts, so the SIMD kernels use them in place; past it (a first
 * call, before its size is known) and for ints, pooled JS arrays, which the kernels copy in
 * and out. `asked` counts every float asked for, for the next call's budget.
 */
class ResidentArrays implements Allocator {
  asked = 0;
  constructor(
    private readonly runtime: SimdRuntime,
    private budget: number,
    private readonly fallback: PooledArrays,
  ) {}

  floats(size: number): Float32Array {
    const aligned = (size + 3) & ~3; // what a view takes (see SimdRuntime)
    this.asked += aligned;
    if (aligned > this.budget) return this.fallback.floats(size);
    this.budget -= aligned;
    return this.runtime.view(size, false);
  }

  ints(size: number): Int32Array {
    return this.fallback.ints(size);
  }
}

/** What one step keeps for the backward pass. */
interface StepRecord {
  readonly inputs: StepInputs;
  readonly outputs: StepOutputs;
  readonly tape: StepTape;
}

/** The gradients of the memory state flowing from step t + 1 back to step t. */
type StateGradients = Omit<InputGradients, 'interfaceVector' | 'link'> & {
  readonly link: Float32Array | null;
};

/** The link input(s) of a state's link: the token, the sparse values and columns, or the tensor. */
function linkInputs(link: DncState['link']): tf.Tensor[] {
  if (isResidentLink(link)) return [link];
  return isSparseLink(link) ? [link.values, link.columns] : [link as tf.Tensor];
}

class DncRun implements SequenceMemoryRun {
  private readonly pooled = new PooledArrays();
  /** The steps' arrays: resident in the links' runtime where possible, else pooled. */
  private readonly arrays: Allocator;
  private readonly records: StepRecord[] = [];
  private readonly linkPass: LinkPass;
  private readonly rows: RowKernels;
  /** The runtime holding the dense links, when they are resident. */
  private readonly runtime: SimdRuntime | undefined;
  private readonly linkArrays: Allocator;
  /** The link at t = 0 when it is resident (its gradient goes back there). */
  private readonly linkRecord0: LinkRecord | null;
  /** The state the next step starts from. */
  private memoryInputs: StepInputs;
  private dState: StateGradients;
  private readonly noWrites: Float32Array; // w^w_t only feeds the usage: gradient stopped
  private readonly noAllocation: Float32Array;

  constructor(
    private readonly step: FusedMemoryStep,
    state: DncState,
    read: FusedInputs,
    private readonly batch: number,
    private readonly steps: number,
  ) {
    const { slots: n, width: w, readHeads: r, writeHeads: h } = step.spec;
    this.linkRecord0 = isResidentLink(state.link) ? linkRecord(state.link) : null;
    let link: LinkArrays = this.linkRecord0
      ? this.linkRecord0.arrays
      : read.has('linkColumns')
        ? { values: read.floats('link'), columns: read.ints('linkColumns') }
        : { values: read.floats('link'), columns: null };
    const resident = step.residentLinks(batch, steps);
    let linkGradient: Float32Array | null = null;
    if (resident) {
      // every step's link in the runtime's memory, L_0 copied in; dL/dL_T = 0 there too
      const values = resident.runtime.view(link.values.length, false);
      values.set(link.values);
      link = { values, columns: null };
      linkGradient = resident.runtime.view(link.values.length);
    }
    this.runtime = resident?.runtime;
    this.linkPass = resident?.pass ?? step.linkPass;
    this.rows = resident?.rows ?? rowKernelsFor(w);
    this.linkArrays = this.runtime ? new ViewArrays(this.runtime) : this.pooled;
    this.arrays = resident
      ? new ResidentArrays(resident.runtime, resident.tapeFloats, this.pooled)
      : this.pooled;
    this.memoryInputs = {
      interfaceVector: new Float32Array(0),
      memory: read.floats('memory'),
      usage: read.floats('usage'),
      precedence: read.floats('precedence'),
      readWeights: read.floats('readWeights'),
      writeWeights: read.floats('writeWeights'),
      link,
    };
    const B = batch;
    this.dState = {
      memory: new Float32Array(B * n * w),
      usage: new Float32Array(B * n),
      precedence: new Float32Array(B * h * n),
      readWeights: new Float32Array(B * r * n),
      link: linkGradient,
    };
    this.noWrites = new Float32Array(B * h * n);
    this.noAllocation = new Float32Array(B * h * n);
  }

  forward(_t: number, interfaceVector: Float32Array): Float32Array {
    const { spec } = this.step;
    const B = this.batch;
    const inputs: StepInputs = { ...this.memoryInputs, interfaceVector };
    const link = this.linkPass.allocate(B, this.linkArrays);
    const outputs = allocateOutputs(spec, B, link, this.arrays);
    const tape = stepForward(spec, this.linkPass, B, inputs, outputs, this.arrays, this.rows);
    this.records.push({ inputs, outputs, tape });
    this.memoryInputs = { ...outputs, interfaceVector, freeLists: tape.freeLists };
    return outputs.reads;
  }

  backward(t: number, dReads: Float32Array): Float32Array {
    const { inputs, outputs, tape } = this.records[t] as StepRecord;
    const grads = stepBackward(
      this.step.spec,
      this.linkPass,
      inputs,
      outputs,
      tape,
      {
        reads: dReads,
        ...this.dState,
        writeWeights: this.noWrites,
        allocation: this.noAllocation,
      },
      this.arrays,
      this.rows,
    );
    this.dState = grads;
    return grads.interfaceVector;
  }

  initialGradients(): Record<string, Float32Array> {
    const { writeHeads: h, slots: n } = this.step.spec;
    const B = this.batch;
    const d = this.dState;
    const dLink0 = d.link as Float32Array;
    const grads: Record<string, Float32Array> = {
      // copies: these arrays go back to the pool
      memory: d.memory.slice(),
      usage: d.usage.slice(),
      precedence: d.precedence.slice(),
      readWeights: d.readWeights.slice(),
      writeWeights: new Float32Array(B * h * n),
    };
    if (this.linkRecord0) {
      // copied when it is a view of the resident links' memory, which is about to be reused
      addLinkGradient(this.linkRecord0, dLink0, this.runtime !== undefined);
      grads.link = new Float32Array(1); // the token's: a scalar
    } else {
      grads.link = dLink0.slice();
      if (this.step.spec.sparseCapacity > 0) grads.linkColumns = new Float32Array(dLink0.length);
    }
    return grads;
  }

  release(): void {
    if (this.arrays instanceof ResidentArrays) {
      this.step.noteTape(this.batch, this.steps, this.arrays.asked);
    }
    this.pooled.release();
    if (this.runtime) releaseSimdRuntime(this.runtime);
  }
}

/** The DNC memory of a fused step for core's whole-sequence op. */
export function dncSequenceMemory(step: FusedMemoryStep): SequenceMemory {
  const { slots: n, width: w, readHeads: r, writeHeads: h, sparseCapacity } = step.spec;
  let zeros: { batch: number; values: Record<string, Float32Array> } | undefined;
  return {
    interfaceSize: step.spec.interfaceSize,
    readSize: r * w,
    stateInputs(value, batch) {
      const state = value as DncState;
      checkShape('initialState memory', state.memory, [batch, n, w], '[B, N, W]');
      checkShape('initialState usage', state.usage, [batch, n], '[B, N]');
      checkShape('initialState precedence', state.precedence, [batch, h, n], '[B, Hw, N]');
      checkShape('initialState readWeights', state.readWeights, [batch, r, n], '[B, R, N]');
      checkShape('initialState writeWeights', state.writeWeights, [batch, h, n], '[B, Hw, N]');
      const [link, linkColumns] = linkInputs(state.link);
      if (!isResidentLink(state.link)) {
        const shape = [batch, h, n, sparseCapacity || n];
        checkShape('initialState link', link as tf.Tensor, shape, '[B, Hw, N, N or K]');
      }
      return {
        memory: state.memory,
        usage: state.usage,
        precedence: state.precedence,
        readWeights: state.readWeights,
        writeWeights: state.writeWeights,
        link: link as tf.Tensor,
        ...(linkColumns ? { linkColumns } : {}),
      };
    },
    begin: (state, read, batch, steps) => new DncRun(step, state as DncState, read, batch, steps),
    initialArrays(batch) {
      if (sparseCapacity > 0) return undefined; // a sparse L_0 stays with TF.js
      // L_0 = 0 and every other part of the state zero, r_0 = 0: no parameter behind them. The
      // steps only read them, so the zeros of the last batch size serve every call of it.
      if (zeros?.batch !== batch) {
        const of = (size: number): Float32Array => new Float32Array(batch * size);
        zeros = {
          batch,
          values: {
            memory: of(n * w),
            usage: of(n),
            precedence: of(h * n),
            readWeights: of(r * n),
            writeWeights: of(h * n),
            link: of(h * n * n),
            reads0: of(r * w),
          },
        };
      }
      return {
        state: { link: undefined }, // a link given as an input, not a resident one
        values: zeros.values,
        backward: () => undefined,
      };
    },
  };
}
