import { checkShape } from '@mann/core';
import { copyRows, rowView } from '@mann/core/fused';
import type { SequenceMemory, SequenceMemoryRun } from '@mann/core/fused';
import type { NtmState } from '../memory.js';
import {
  allocateStepOutputs,
  allocateStepTape,
  createStepScratch,
  memoryStepBackward,
  memoryStepForward,
  stepInterfaceSize,
} from './memory-step.js';
import type {
  MemoryStepGradients,
  MemoryStepInputs,
  MemoryStepOutputs,
  MemoryStepSpec,
  MemoryStepTape,
  StepScratch,
} from './memory-step.js';

// The NTM memory step as core's whole-sequence op drives it (`@mann/core/fused`'s
// `fusedSequence`): the state M_t, w_t of all heads (read heads first) in an arena of the
// sequence's tape. B batch, T steps, H = R + Hw heads over N slots of width W.

/**
 * Everything one sequence keeps between its forward and backward pass, for up to `capacity`
 * steps: allocated once and reused by later sequences of the same batch size and at most as
 * many steps (per-step allocations of ~0.5 MB made the garbage collector a fifth of the
 * training step).
 */
class Arena {
  /** The inputs of every step: xi_t (the driver's), M_{t-1} and w_{t-1}. */
  readonly inputs: {
    interfaceVector: Float32Array;
    memory: Float32Array;
    previous: Float32Array;
  }[];
  /** r_t, M_t and w_t of every step: M_t and w_t are the inputs of step t + 1. */
  readonly outputs: MemoryStepOutputs[];
  readonly tapes: MemoryStepTape[];
  /** Two sets of step gradients, used in turn, and dL/dw_T = 0. */
  readonly grads: [MemoryStepGradients, MemoryStepGradients];
  readonly dWeights: Float32Array;

  constructor(
    spec: MemoryStepSpec,
    readonly batch: number,
    readonly capacity: number,
  ) {
    const { slots: N, width: W, readHeads: R, writeHeads: Hw } = spec;
    const B = batch;
    const first = allocateStepOutputs(spec, B);
    this.outputs = Array.from({ length: capacity }, () => allocateStepOutputs(spec, B));
    this.tapes = Array.from({ length: capacity }, () => allocateStepTape(spec, B));
    this.inputs = this.outputs.map((_, t) => {
      const previous = t === 0 ? first : (this.outputs[t - 1] as MemoryStepOutputs);
      return {
        interfaceVector: new Float32Array(0),
        memory: previous.memory,
        previous: previous.weights,
      };
    });
    const grads = (): MemoryStepGradients => ({
      interfaceVector: new Float32Array(B * stepInterfaceSize(spec)),
      memory: new Float32Array(B * N * W),
      previous: new Float32Array(B * (R + Hw) * N),
    });
    this.grads = [grads(), grads()];
    this.dWeights = new Float32Array(B * (R + Hw) * N);
  }
}

/** A call: the steps on an arena, which goes back to `free` when released. */
class NtmRun implements SequenceMemoryRun {
  /** dL/dM_t and dL/dw_t from step t + 1 (none and zeros after the last step). */
  private dMemory: Float32Array | null = null;
  private dWeights: Float32Array;

  constructor(
    private readonly spec: MemoryStepSpec,
    private readonly work: StepScratch,
    private readonly arena: Arena,
    private readonly free: Arena[],
  ) {
    this.dWeights = arena.dWeights;
  }

  forward(t: number, interfaceVector: Float32Array): Float32Array {
    const { arena } = this;
    const inputs = arena.inputs[t] as MemoryStepInputs & { interfaceVector: Float32Array };
    inputs.interfaceVector = interfaceVector;
    const outputs = arena.outputs[t] as MemoryStepOutputs;
    memoryStepForward(this.spec, inputs, outputs, arena.tapes[t] as MemoryStepTape, this.work);
    return outputs.reads;
  }

  backward(t: number, dReads: Float32Array): Float32Array {
    const { arena } = this;
    const grads = arena.grads[t % 2] as MemoryStepGradients;
    memoryStepBackward(
      this.spec,
      arena.inputs[t] as MemoryStepInputs,
      arena.outputs[t] as MemoryStepOutputs,
      arena.tapes[t] as MemoryStepTape,
      { reads: dReads, memory: this.dMemory, weights: this.dWeights },
      grads,
      this.work,
    );
    this.dMemory = grads.memory;
    this.dWeights = grads.previous;
    return grads.interfaceVector;
  }

  initialGradients(): Record<string, Float32Array> {
    const { slots: N, width: W, readHeads: R, writeHeads: Hw } = this.spec;
    const B = this.arena.batch;
    const dRead = new Float32Array(B * R * N);
    const dWrite = new Float32Array(B * Hw * N);
    copyRows(B, R * N, rowView(this.dWeights, 0, (R + Hw) * N), rowView(dRead, 0, R * N));
    copyRows(B, Hw * N, rowView(this.dWeights, R * N, (R + Hw) * N), rowView(dWrite, 0, Hw * N));
    return {
      // a copy: the arena serves the next sequence
      memory: this.dMemory?.slice() ?? new Float32Array(B * N * W),
      readWeights: dRead,
      writeWeights: dWrite,
    };
  }

  release(): void {
    const { free } = this;
    free.push(this.arena);
    if (free.length > 2) {
      // keep the two largest: they serve every shorter sequence too
      let smallest = 0;
      free.forEach((a, i) => {
        if (a.capacity < (free[smallest] as Arena).capacity) smallest = i;
      });
      free.splice(smallest, 1);
    }
  }
}

/**
 * The NTM memory of `spec` for core's whole-sequence op; state inputs M_0, w^r_0, w^w_0; with
 * `initialArrays` (`ntmInitialArrays` of the memory), the initial state on arrays too.
 */
export function ntmSequenceMemory(
  spec: MemoryStepSpec,
  initialArrays?: SequenceMemory['initialArrays'],
): SequenceMemory {
  const { slots: N, width: W, readHeads: R, writeHeads: Hw } = spec;
  const work = createStepScratch(spec);
  const free: Arena[] = []; // arenas whose sequence has ended, for the next ones
  return {
    interfaceSize: stepInterfaceSize(spec),
    readSize: R * W,
    ...(initialArrays ? { initialArrays } : {}),
    stateInputs(state, batch) {
      const { memory, readWeights, writeWeights } = state as NtmState;
      checkShape('initialState memory', memory, [batch, N, W], '[B, N, W]');
      checkShape('initialState readWeights', readWeights, [batch, R, N], '[B, R, N]');
      checkShape('initialState writeWeights', writeWeights, [batch, Hw, N], '[B, Hw, N]');
      return { memory, readWeights, writeWeights };
    },
    begin(_state, read, B, T) {
      // the smallest free arena that fits, else a new one
      let index = -1;
      free.forEach((a, i) => {
        const best = free[index];
        if (a.batch === B && a.capacity >= T && (!best || a.capacity < best.capacity)) index = i;
      });
      const arena = index >= 0 ? (free.splice(index, 1)[0] as Arena) : new Arena(spec, B, T);
      const first = arena.inputs[0] as MemoryStepInputs;
      first.memory.set(read.floats('memory'));
      const w0 = rowView(first.previous, 0, (R + Hw) * N);
      copyRows(B, R * N, rowView(read.floats('readWeights'), 0, R * N), w0);
      copyRows(B, Hw * N, rowView(read.floats('writeWeights'), 0, Hw * N), {
        ...w0,
        offset: R * N,
      });
      return new NtmRun(spec, work, arena, free);
    },
  };
}
