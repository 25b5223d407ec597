import type { FusedStepSpec } from './spec.js';
import { activateInterface, activateInterfaceBackward } from './interface-pass.js';
import {
  allocateContentTape,
  contentBackward,
  contentForward,
  contentTapeSize,
  type ContentAddress,
  type ContentGradients,
  type ContentHeads,
  type ContentTape,
} from './content-pass.js';
import {
  allocateAllocationTape,
  allocationBackward,
  allocationForward,
  allocationTapeSize,
  type AllocationGradients,
  type AllocationStep,
  type AllocationTape,
} from './allocation-pass.js';
import { Carver, rowKernelsFor, scratch32, type RowKernels } from '@mann/core/fused';
import { freshArrays, type Allocator } from '@mann/core/fused';
import {
  eraseAndWriteBackward,
  eraseAndWriteForward,
  readVectorsBackward,
  readVectorsForward,
  type EraseWrite,
  type EraseWriteGradients,
  type ReadVectors,
  type ReadVectorsGradients,
} from '@mann/core/fused';
import {
  precedenceBackward,
  precedenceForward,
  readWeightingBackward,
  readWeightingForward,
  sharpenBackward,
  sharpenForward,
  writeWeightingBackward,
  writeWeightingForward,
  type ReadWeighting,
  type ReadWeightingGradients,
  type WriteWeighting,
  type WriteWeightingGradients,
} from './weighting-pass.js';
import type { LinkArrays, LinkPass } from './link-pass.js';

// One DNC memory step over a batch, forward and backward, in the order of docs/spec.md section 3
// and with the values and gradients of the composed reference (`DncMemory.step` with
// `implementation: 'composed'`). Where WebAssembly SIMD is available and N and W are multiples
// of 4, the link passes, content addressing, the per-slot parts of allocation, the read
// weighting and the row products run in SIMD (float32); the rest is plain JS. Arrays are
// row-major, batch first; see `FusedStepSpec` for the sizes.

/** The step's inputs: xi_t and the state at t - 1. */
export interface StepInputs {
  /** xi_t, [B, I] */
  readonly interfaceVector: Float32Array;
  /** M_{t-1}, [B, N, W] */
  readonly memory: Float32Array;
  /** u_{t-1}, [B, N] */
  readonly usage: Float32Array;
  /** p_{t-1}, [B, H, N] */
  readonly precedence: Float32Array;
  /** w^r_{t-1}, [B, R, N] */
  readonly readWeights: Float32Array;
  /** w^w_{t-1}, [B, H, N] */
  readonly writeWeights: Float32Array;
  /** L_{t-1} */
  readonly link: LinkArrays;
  /**
   * The free lists of step t - 1 (its tape's `freeLists`), [B, H, N], or absent: a hint that
   * speeds up the sort of step t's free lists, never a change to its result.
   */
  readonly freeLists?: Int32Array | null;
}

/** The step's outputs: r_t, the state at t, and the allocation (for traces). */
export interface StepOutputs {
  /** r_t, [B, R, W] */
  readonly reads: Float32Array;
  readonly memory: Float32Array;
  readonly usage: Float32Array;
  readonly precedence: Float32Array;
  readonly readWeights: Float32Array;
  readonly writeWeights: Float32Array;
  /** a_t, [B, H, N] */
  readonly allocation: Float32Array;
  readonly link: LinkArrays;
}

/** dL/d(each output); `link` may be null (no later step used it). */
export type OutputGradients = Omit<StepOutputs, 'link'> & { readonly link: Float32Array | null };

/** dL/d(each input); none for w^w_{t-1} (its gradient is stopped) and the link columns. */
export interface InputGradients {
  readonly interfaceVector: Float32Array;
  readonly memory: Float32Array;
  readonly usage: Float32Array;
  readonly precedence: Float32Array;
  readonly readWeights: Float32Array;
  /** dL/dL_{t-1} (dense) or dL/d(values) (sparse). */
  readonly link: Float32Array;
}

/** What one example's backward pass needs from its forward pass. */
interface ExampleTape {
  /** The activated interface vector, [I] */
  readonly act: Float32Array;
  readonly allocation: AllocationTape;
  /** c^w, [H, N] */
  readonly writeContent: Float32Array;
  readonly writeContentTape: ContentTape;
  /** c^r, [R, N] */
  readonly readContent: Float32Array;
  readonly readContentTape: ContentTape;
  /** f and b through the link, [H, R, N] */
  readonly forward: Float32Array;
  readonly backward: Float32Array;
  /** f and b sharpened (DNC-MD link sharpness), else the same arrays as forward/backward */
  readonly sharpForward: Float32Array;
  readonly sharpBackward: Float32Array;
}

/** The forward pass's record for the backward pass. */
export interface StepTape {
  readonly batch: number;
  readonly examples: readonly ExampleTape[];
  /** Every example's free lists (the slots by ascending usage), [B, H, N]. */
  readonly freeLists: Int32Array;
  /** Whatever the link pass keeps (e.g. the sparse link's selections). */
  readonly link: unknown;
}

const view = (array: Float32Array, b: number, size: number): Float32Array =>
  array.subarray(b * size, (b + 1) * size);

function heads(spec: FusedStepSpec, kind: 'read' | 'write'): ContentHeads {
  const { offsets } = spec;
  return kind === 'read'
    ? {
        heads: spec.readHeads,
        keys: offsets.readKeys,
        strengths: offsets.readStrengths,
        masks: offsets.readMasks,
      }
    : {
        heads: spec.writeHeads,
        keys: offsets.writeKeys,
        strengths: offsets.writeStrengths,
        masks: offsets.writeMasks,
      };
}

/** Arrays for the outputs of a batch of `batch` examples (overwritten by `stepForward`). */
export function allocateOutputs(
  spec: FusedStepSpec,
  batch: number,
  link: LinkArrays,
  arrays: Allocator = freshArrays,
): StepOutputs {
  const { slots: n, width: w, readHeads: r, writeHeads: h } = spec;
  return {
    reads: arrays.floats(batch * r * w),
    memory: arrays.floats(batch * n * w),
    usage: arrays.floats(batch * n),
    precedence: arrays.floats(batch * h * n),
    readWeights: arrays.floats(batch * r * n),
    writeWeights: arrays.floats(batch * h * n),
    allocation: arrays.floats(batch * h * n),
    link,
  };
}

/** Floats and ints of one example's {@link ExampleTape}. */
function exampleTapeSize(spec: FusedStepSpec): { floats: number; ints: number } {
  const { slots: n, readHeads: r, writeHeads: h, interfaceSize } = spec;
  const allocation = allocationTapeSize(h, n);
  const directional = (spec.linkSharpness ? 4 : 2) * h * r * n;
  return {
    floats:
      interfaceSize +
      allocation.floats +
      h * n +
      contentTapeSize(h, n) +
      r * n +
      contentTapeSize(r, n) +
      directional,
    ints: allocation.ints,
  };
}

/** The tape of each example, carved from one buffer per step (and one of ints). */
function allocateExampleTapes(
  spec: FusedStepSpec,
  batch: number,
  arrays: Allocator,
): { examples: ExampleTape[]; freeLists: Int32Array } {
  const { slots: n, readHeads: r, writeHeads: h, interfaceSize } = spec;
  const size = exampleTapeSize(spec);
  const floats = new Carver(arrays.floats(batch * size.floats));
  // the ints are the free lists alone, example after example: [B, H, N]
  const ints = new Carver(arrays.ints(batch * size.ints));
  const examples = Array.from({ length: batch }, () => {
    const act = floats.take(interfaceSize);
    const allocation = allocateAllocationTape(h, n, floats, ints);
    const writeContent = floats.take(h * n);
    const writeContentTape = allocateContentTape(h, n, floats);
    const readContent = floats.take(r * n);
    const readContentTape = allocateContentTape(r, n, floats);
    const forward = floats.take(h * r * n);
    const backward = floats.take(h * r * n);
    return {
      act,
      allocation,
      writeContent,
      writeContentTape,
      readContent,
      readContentTape,
      forward,
      backward,
      sharpForward: spec.linkSharpness ? floats.take(h * r * n) : forward,
      sharpBackward: spec.linkSharpness ? floats.take(h * r * n) : backward,
    };
  });
  return { examples, freeLists: ints.buffer };
}

/** An {@link EraseWrite} for `spec`, its arrays set per example by the caller. */
function eraseWriteRecord(spec: FusedStepSpec, rows: RowKernels): EraseWrite {
  const empty = new Float32Array(0);
  return {
    rows,
    slots: spec.slots,
    width: spec.width,
    writeHeads: spec.writeHeads,
    prev: empty,
    writes: empty,
    erase: empty,
    vectors: empty,
    eraseAt: spec.offsets.eraseVectors,
    vectorsAt: spec.offsets.writeVectors,
    retention: null,
  };
}

/** An {@link AllocationStep} for `spec`, its arrays set per example by the caller. */
function allocationRecord(
  spec: FusedStepSpec,
  rows: RowKernels,
  gates: Float32Array,
): AllocationStep {
  const empty = new Float32Array(0);
  return {
    runtime: rows.runtime,
    slots: spec.slots,
    readHeads: spec.readHeads,
    writeHeads: spec.writeHeads,
    prevUsage: empty,
    prevWrites: empty,
    prevReads: empty,
    freeGates: empty,
    gates,
    usage: empty,
    allocation: empty,
    tape: allocateAllocationTape(
      0,
      0,
      new Carver(new Float32Array(0)),
      new Carver(new Int32Array(0)),
    ),
    freeListHint: null,
  };
}

/** A {@link WriteWeighting} for `spec`, its arrays set per example by the caller. */
function writeWeightingRecord(spec: FusedStepSpec): WriteWeighting {
  const empty = new Float32Array(0);
  return {
    slots: spec.slots,
    writeHeads: spec.writeHeads,
    act: empty,
    allocationGatesAt: spec.offsets.allocationGates,
    writeGatesAt: spec.offsets.writeGates,
    allocation: empty,
    content: empty,
  };
}

/** A {@link ReadWeighting} for `spec`, its arrays set per example by the caller. */
function readWeightingRecord(spec: FusedStepSpec, rows: RowKernels): ReadWeighting {
  const empty = new Float32Array(0);
  return {
    runtime: rows.runtime,
    slots: spec.slots,
    readHeads: spec.readHeads,
    writeHeads: spec.writeHeads,
    act: empty,
    modesAt: spec.offsets.readModes,
    content: empty,
    backward: empty,
    forward: empty,
  };
}

/** A {@link ContentAddress} of one set of `spec`'s heads, its arrays set per example. */
function contentRecord(
  spec: FusedStepSpec,
  rows: RowKernels,
  contentHeads: ContentHeads,
): ContentAddress {
  const empty = new Float32Array(0);
  return {
    rows,
    slots: spec.slots,
    width: spec.width,
    heads: contentHeads,
    memory: empty,
    act: empty,
    weights: empty,
    tape: { cosine: empty, rowNorms: empty, keyNorms: empty },
  };
}

/** A {@link ReadVectors} for `spec`, its arrays set per example by the caller. */
function readVectorsRecord(spec: FusedStepSpec, rows: RowKernels): ReadVectors {
  const empty = new Float32Array(0);
  return {
    rows,
    slots: spec.slots,
    width: spec.width,
    readHeads: spec.readHeads,
    memory: empty,
    weights: empty,
  };
}

/**
 * The forward pass: fills `out` and returns the tape for {@link stepBackward}. The SIMD parts
 * run on `rows`' runtime: arrays from `arrays` that are views of its memory are used in place.
 */
export function stepForward(
  spec: FusedStepSpec,
  linkPass: LinkPass,
  batch: number,
  input: StepInputs,
  out: StepOutputs,
  arrays: Allocator = freshArrays,
  rows: RowKernels = rowKernelsFor(spec.width),
): StepTape {
  const { slots: n, width: w, readHeads: r, writeHeads: h, offsets, interfaceSize } = spec;
  const readHeads = heads(spec, 'read');
  const writeHeads = heads(spec, 'write');
  const { examples, freeLists } = allocateExampleTapes(spec, batch, arrays);
  const linkTape = linkPass.beginForward(batch);
  const gates = scratch32('step.gates', h);
  const eraseWrite = eraseWriteRecord(spec, rows);
  const allocationStep = allocationRecord(spec, rows, gates);
  const readContent = contentRecord(spec, rows, readHeads);
  const writeContent = contentRecord(spec, rows, writeHeads);
  const reader = readVectorsRecord(spec, rows);
  const writeMix = writeWeightingRecord(spec);
  const readMix = readWeightingRecord(spec, rows);
  for (let b = 0; b < batch; b++) {
    const tape = examples[b] as ExampleTape;
    const act = tape.act;
    activateInterface(spec, view(input.interfaceVector, b, interfaceSize), act);
    const memory = view(input.memory, b, n * w);
    const prevReads = view(input.readWeights, b, r * n);
    const usage = view(out.usage, b, n);
    const allocation = view(out.allocation, b, h * n);
    const writes = view(out.writeWeights, b, h * n);
    for (let k = 0; k < h; k++) {
      gates[k] =
        (act[offsets.allocationGates + k] as number) * (act[offsets.writeGates + k] as number);
    }
    // 1-3. retention, usage, allocation
    allocationStep.prevUsage = view(input.usage, b, n);
    allocationStep.prevWrites = view(input.writeWeights, b, h * n);
    allocationStep.prevReads = prevReads;
    allocationStep.freeGates = act.subarray(offsets.freeGates, offsets.freeGates + r);
    allocationStep.usage = usage;
    allocationStep.allocation = allocation;
    allocationStep.tape = tape.allocation;
    allocationStep.freeListHint = input.freeLists
      ? input.freeLists.subarray(b * h * n, (b + 1) * h * n)
      : null;
    allocationForward(allocationStep);
    // 4. write weighting from the content weights on M_{t-1}
    writeContent.memory = memory;
    writeContent.act = act;
    writeContent.weights = tape.writeContent;
    writeContent.tape = tape.writeContentTape;
    contentForward(writeContent);
    writeMix.act = act;
    writeMix.allocation = allocation;
    writeMix.content = tape.writeContent;
    writeWeightingForward(writeMix, writes);
    // 5. erase and write
    const next = view(out.memory, b, n * w);
    eraseWrite.prev = memory;
    eraseWrite.writes = writes;
    eraseWrite.erase = act;
    eraseWrite.vectors = act;
    eraseWrite.retention = spec.deallocation ? tape.allocation.retention : null;
    eraseAndWriteForward(eraseWrite, next);
    // 6. link from the OLD precedence, f and b through the NEW link; then the precedence
    const prevPrecedence = view(input.precedence, b, h * n);
    linkPass.forward(linkTape, b, {
      prev: input.link,
      next: out.link,
      writes,
      prevPrecedence,
      prevReads,
      forward: tape.forward,
      backward: tape.backward,
    });
    precedenceForward(n, h, prevPrecedence, writes, view(out.precedence, b, h * n));
    if (spec.linkSharpness) {
      for (let head = 0; head < h; head++) {
        for (let k = 0; k < r; k++) {
          const at = (head * r + k) * n;
          const s = offsets.linkSharpness + 2 * k;
          sharpenForward(n, tape.backward, at, act[s] as number, tape.sharpBackward);
          sharpenForward(n, tape.forward, at, act[s + 1] as number, tape.sharpForward);
        }
      }
    }
    // 7. read weightings from the content weights on M_t and the link weightings
    readContent.memory = next;
    readContent.act = act;
    readContent.weights = tape.readContent;
    readContent.tape = tape.readContentTape;
    contentForward(readContent);
    const readWeights = view(out.readWeights, b, r * n);
    readMix.act = act;
    readMix.content = tape.readContent;
    readMix.backward = tape.sharpBackward;
    readMix.forward = tape.sharpForward;
    readWeightingForward(readMix, readWeights);
    // 8. read vectors
    reader.memory = next;
    reader.weights = readWeights;
    readVectorsForward(reader, view(out.reads, b, r * w));
  }
  return { batch, examples, freeLists, link: linkTape };
}

/** Zeroed arrays for the input gradients of a batch. */
function allocateInputGradients(
  spec: FusedStepSpec,
  batch: number,
  link: Float32Array,
  arrays: Allocator,
): InputGradients {
  const { slots: n, width: w, readHeads: r, writeHeads: h, interfaceSize } = spec;
  const zeros = (size: number): Float32Array => arrays.floats(size).fill(0);
  return {
    interfaceVector: zeros(batch * interfaceSize),
    memory: zeros(batch * n * w),
    usage: zeros(batch * n),
    precedence: zeros(batch * h * n),
    readWeights: zeros(batch * r * n),
    link,
  };
}

/** The temporaries the passes add to, zeroed for each example. */
type ZeroedTemporary =
  | 'dAct'
  | 'dReadContent'
  | 'dSharpBackward'
  | 'dSharpForward'
  | 'dBackward' // link sharpness only (else empty), as dForward
  | 'dForward'
  | 'dRetention' // deallocation only (else empty)
  | 'dWriteContent';
/** The copies of an example's output gradients, overwritten for each example. */
type CopiedTemporary = 'dNext' | 'dReadWeights' | 'dWrites' | 'dAllocation';

/** The per-example temporaries of {@link stepBackward}, carved from `block`. */
type BackwardScratch = Record<ZeroedTemporary | CopiedTemporary, Float32Array> & {
  readonly block: Float32Array;
  /** The floats of `block` that hold the zeroed temporaries (its start). */
  readonly zeroed: number;
};

/**
 * The temporaries of one backward call, carved from a single array of `arrays`. Where `arrays`
 * hands out views of the SIMD runtime (a resident sequence), the kernels use them in place:
 * JS temporaries are copied in and out of the runtime by every kernel call of every example.
 * With the link and content tapes zeroed in place (`SimdRuntime.cleared`), this cut what a
 * training step of the default DNC at batch 16 copies from 22 M floats to 8.5 M, and the step's
 * fastest time by ~2 % (2026-12-07). Every carved array starts on a multiple of 4 floats, so
 * views stay 16-byte aligned.
 */
function backwardScratch(spec: FusedStepSpec, arrays: Allocator): BackwardScratch {
  const { slots: n, width: w, readHeads: r, writeHeads: h, interfaceSize } = spec;
  const sharp = spec.linkSharpness ? h * r * n : 0;
  const zeroedSizes: Record<ZeroedTemporary, number> = {
    dAct: interfaceSize,
    dReadContent: r * n,
    dSharpBackward: h * r * n,
    dSharpForward: h * r * n,
    dBackward: sharp,
    dForward: sharp,
    dRetention: spec.deallocation ? n : 0,
    dWriteContent: h * n,
  };
  const copiedSizes: Record<CopiedTemporary, number> = {
    dNext: n * w,
    dReadWeights: r * n,
    dWrites: h * n,
    dAllocation: h * n,
  };
  const aligned = (size: number): number => (size + 3) & ~3;
  const floats = (sizes: Record<string, number>): number =>
    Object.values(sizes).reduce((total, size) => total + aligned(size), 0);
  const zeroed = floats(zeroedSizes);
  const block = arrays.floats(zeroed + floats(copiedSizes));
  let at = 0;
  const carve = <K extends string>(sizes: Record<K, number>): Record<K, Float32Array> => {
    const parts = {} as Record<K, Float32Array>;
    for (const [name, size] of Object.entries(sizes) as [K, number][]) {
      parts[name] = block.subarray(at, at + size);
      at += aligned(size);
    }
    return parts;
  };
  return { block, zeroed, ...carve(zeroedSizes), ...carve(copiedSizes) };
}

/**
 * The backward pass: dL/d(inputs) from dL/d(outputs). `grads.link` may be overwritten (it
 * becomes part of the link's input gradient). `rows` as for {@link stepForward}.
 */
export function stepBackward(
  spec: FusedStepSpec,
  linkPass: LinkPass,
  input: StepInputs,
  out: StepOutputs,
  tape: StepTape,
  grads: OutputGradients,
  arrays: Allocator = freshArrays,
  rows: RowKernels = rowKernelsFor(spec.width),
): InputGradients {
  const { slots: n, width: w, readHeads: r, writeHeads: h, offsets, interfaceSize } = spec;
  const { batch } = tape;
  const readHeads = heads(spec, 'read');
  const writeHeads = heads(spec, 'write');
  const dLink = linkPass.beginBackward(tape.link, batch, input.link, out.link, grads.link);
  const dIn = allocateInputGradients(spec, batch, dLink.dPrev, arrays);
  const temporaries = backwardScratch(spec, arrays);
  const copy = (to: Float32Array, from: Float32Array, b: number): Float32Array => {
    to.set(view(from, b, to.length));
    return to;
  };
  const eraseWrite = eraseWriteRecord(spec, rows);
  const empty = new Float32Array(0);
  const eraseWriteGrads: EraseWriteGradients = {
    dNext: empty,
    dPrev: empty,
    dWrites: empty,
    dErase: empty,
    dVectors: empty,
    dRetention: null,
  };
  const allocationStep = allocationRecord(spec, rows, empty);
  const allocationGrads: AllocationGradients = {
    dUsage: empty,
    dAllocation: empty,
    dPrevUsage: empty,
    dPrevReads: empty,
    dFreeGates: empty,
    dGates: empty,
    dRetention: null,
  };
  const writeMix = writeWeightingRecord(spec);
  const writeMixGrads: WriteWeightingGradients = {
    dWrites: empty,
    dAllocation: empty,
    dContent: empty,
    dAct: empty,
  };
  const readContent = contentRecord(spec, rows, readHeads);
  const writeContent = contentRecord(spec, rows, writeHeads);
  const reader = readVectorsRecord(spec, rows);
  const readerGrads: ReadVectorsGradients = { dReads: empty, dMemory: empty, dWeights: empty };
  const contentGrads: ContentGradients = { dWeights: empty, dMemory: empty, dAct: empty };
  const readMix = readWeightingRecord(spec, rows);
  const readMixGrads: ReadWeightingGradients = {
    dWeights: empty,
    dContent: empty,
    dBackward: empty,
    dForward: empty,
    dAct: empty,
  };
  for (let b = 0; b < batch; b++) {
    const ex = tape.examples[b] as ExampleTape;
    const act = ex.act;
    temporaries.block.fill(0, 0, temporaries.zeroed);
    const dAct = temporaries.dAct;
    const memory = view(input.memory, b, n * w);
    const next = view(out.memory, b, n * w);
    const readWeights = view(out.readWeights, b, r * n);
    const writes = view(out.writeWeights, b, h * n);
    const allocation = view(out.allocation, b, h * n);
    const prevReads = view(input.readWeights, b, r * n);
    const prevPrecedence = view(input.precedence, b, h * n);
    const dNext = copy(temporaries.dNext, grads.memory, b);
    const dReadWeights = copy(temporaries.dReadWeights, grads.readWeights, b);
    const dWrites = copy(temporaries.dWrites, grads.writeWeights, b);
    const dAllocation = copy(temporaries.dAllocation, grads.allocation, b);
    const dPrevReads = view(dIn.readWeights, b, r * n);
    // 8. read vectors
    reader.memory = next;
    reader.weights = readWeights;
    readerGrads.dReads = view(grads.reads, b, r * w);
    readerGrads.dMemory = dNext;
    readerGrads.dWeights = dReadWeights;
    readVectorsBackward(reader, readerGrads);
    // 7. read weightings and the content weights on M_t
    const { dReadContent, dSharpBackward, dSharpForward } = temporaries;
    readMix.act = act;
    readMix.content = ex.readContent;
    readMix.backward = ex.sharpBackward;
    readMix.forward = ex.sharpForward;
    readMixGrads.dWeights = dReadWeights;
    readMixGrads.dContent = dReadContent;
    readMixGrads.dBackward = dSharpBackward;
    readMixGrads.dForward = dSharpForward;
    readMixGrads.dAct = dAct;
    readWeightingBackward(readMix, readMixGrads);
    readContent.memory = next;
    readContent.act = act;
    readContent.weights = ex.readContent;
    readContent.tape = ex.readContentTape;
    contentGrads.dWeights = dReadContent;
    contentGrads.dMemory = dNext;
    contentGrads.dAct = dAct;
    contentBackward(readContent, contentGrads);
    let dBackward = dSharpBackward;
    let dForward = dSharpForward;
    if (spec.linkSharpness) {
      dBackward = temporaries.dBackward;
      dForward = temporaries.dForward;
      for (let head = 0; head < h; head++) {
        for (let k = 0; k < r; k++) {
          const at = (head * r + k) * n;
          const s = offsets.linkSharpness + 2 * k;
          const sb = act[s] as number;
          const sf = act[s + 1] as number;
          dAct[s] =
            (dAct[s] as number) +
            sharpenBackward({
              n,
              from: at,
              s: sb,
              d: ex.backward,
              out: ex.sharpBackward,
              dOut: dSharpBackward,
              dD: dBackward,
            });
          dAct[s + 1] =
            (dAct[s + 1] as number) +
            sharpenBackward({
              n,
              from: at,
              s: sf,
              d: ex.forward,
              out: ex.sharpForward,
              dOut: dSharpForward,
              dD: dForward,
            });
        }
      }
    }
    // 6. link and precedence
    const dPrevPrecedence = view(dIn.precedence, b, h * n);
    linkPass.backward(dLink, b, {
      writes,
      prevPrecedence,
      prevReads,
      dForward,
      dBackward,
      dWrites,
      dPrevPrecedence,
      dPrevReads,
    });
    precedenceBackward({
      n,
      h,
      prev: prevPrecedence,
      writes,
      dNext: view(grads.precedence, b, h * n),
      dPrev: dPrevPrecedence,
      dWrites,
    });
    // 5. erase and write
    const dRetention = spec.deallocation ? temporaries.dRetention : null;
    const dMemory = view(dIn.memory, b, n * w);
    eraseWrite.prev = memory;
    eraseWrite.writes = writes;
    eraseWrite.erase = act;
    eraseWrite.vectors = act;
    eraseWrite.retention = spec.deallocation ? ex.allocation.retention : null;
    eraseWriteGrads.dNext = dNext;
    eraseWriteGrads.dPrev = dMemory;
    eraseWriteGrads.dWrites = dWrites;
    eraseWriteGrads.dErase = dAct;
    eraseWriteGrads.dVectors = dAct;
    eraseWriteGrads.dRetention = dRetention;
    eraseAndWriteBackward(eraseWrite, eraseWriteGrads);
    // 4. write weighting and the content weights on M_{t-1}
    const dWriteContent = temporaries.dWriteContent;
    writeMix.act = act;
    writeMix.allocation = allocation;
    writeMix.content = ex.writeContent;
    writeMixGrads.dWrites = dWrites;
    writeMixGrads.dAllocation = dAllocation;
    writeMixGrads.dContent = dWriteContent;
    writeMixGrads.dAct = dAct;
    writeWeightingBackward(writeMix, writeMixGrads);
    writeContent.memory = memory;
    writeContent.act = act;
    writeContent.weights = ex.writeContent;
    writeContent.tape = ex.writeContentTape;
    contentGrads.dWeights = dWriteContent;
    contentGrads.dMemory = dMemory;
    contentGrads.dAct = dAct;
    contentBackward(writeContent, contentGrads);
    // 1-3. allocation, usage, retention
    const gates = scratch32('step.gates', h);
    for (let k = 0; k < h; k++) {
      gates[k] =
        (act[offsets.allocationGates + k] as number) * (act[offsets.writeGates + k] as number);
    }
    const dGates = scratch32('step.dGates', h);
    const dFreeGates = scratch32('step.dFreeGates', r);
    allocationStep.prevUsage = view(input.usage, b, n);
    allocationStep.prevReads = prevReads;
    allocationStep.freeGates = act.subarray(offsets.freeGates, offsets.freeGates + r);
    allocationStep.gates = gates;
    allocationStep.allocation = allocation;
    allocationStep.tape = ex.allocation;
    allocationGrads.dUsage = view(grads.usage, b, n);
    allocationGrads.dAllocation = dAllocation;
    allocationGrads.dPrevUsage = view(dIn.usage, b, n);
    allocationGrads.dPrevReads = dPrevReads;
    allocationGrads.dFreeGates = dFreeGates;
    allocationGrads.dGates = dGates;
    allocationGrads.dRetention = dRetention;
    allocationBackward(allocationStep, allocationGrads);
    for (let k = 0; k < r; k++)
      dAct[offsets.freeGates + k] =
        (dAct[offsets.freeGates + k] as number) + (dFreeGates[k] as number);
    for (let k = 0; k < h; k++) {
      const ga = offsets.allocationGates + k;
      const gw = offsets.writeGates + k;
      const d = dGates[k] as number;
      dAct[ga] = (dAct[ga] as number) + d * (act[gw] as number);
      dAct[gw] = (dAct[gw] as number) + d * (act[ga] as number);
    }
    activateInterfaceBackward(
      spec,
      view(input.interfaceVector, b, interfaceSize),
      act,
      dAct,
      view(dIn.interfaceVector, b, interfaceSize),
    );
  }
  linkPass.endBackward(dLink);
  return dIn;
}
