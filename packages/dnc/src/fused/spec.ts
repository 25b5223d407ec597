import type { DncMemoryConfig } from '../config.js';
import { interfaceLayout, interfaceSize, type DncInterface } from '../interface.js';

/**
 * What the fused step computes, with the interface vector's layout resolved to offsets.
 * B batch, N slots, W width, R read heads, H write heads, Q = 1 + 2H read modes, I the
 * interface size. Every array of the fused step is row-major, one example after another.
 */
export interface FusedStepSpec {
  /** N */
  readonly slots: number;
  /** W */
  readonly width: number;
  /** R */
  readonly readHeads: number;
  /** H */
  readonly writeHeads: number;
  /** Q = 1 + 2H: backward x H, content, forward x H. */
  readonly modes: number;
  readonly masking: boolean;
  readonly deallocation: boolean;
  readonly linkSharpness: boolean;
  /** K of sparse links (at most N), or 0 for dense links. */
  readonly sparseCapacity: number;
  /** K of the sparse link update (may exceed N), or 0 for dense links. */
  readonly sparseK: number;
  /** I, units of the interface vector. */
  readonly interfaceSize: number;
  /** Offset of each field in the interface vector (absent fields: -1). */
  readonly offsets: Readonly<Record<keyof DncInterface, number>>;
  /**
   * Activation of each unit of the interface vector before the softmax block: 0 identity,
   * 1 sigmoid, 2 oneplus.
   */
  readonly activations: Uint8Array;
  /** Units before the softmax block (the read modes), which takes the rest in groups of Q. */
  readonly elementwise: number;
}

const ACTIVATION_CODES = { identity: 0, sigmoid: 1, oneplus: 2 } as const;

/** The spec of a memory configuration. */
export function fusedStepSpec(config: DncMemoryConfig): FusedStepSpec {
  const layout = interfaceLayout(config);
  const offsets: Record<string, number> = {
    readKeys: -1,
    readStrengths: -1,
    writeKeys: -1,
    writeStrengths: -1,
    eraseVectors: -1,
    writeVectors: -1,
    freeGates: -1,
    allocationGates: -1,
    writeGates: -1,
    readModes: -1,
    readMasks: -1,
    writeMasks: -1,
    linkSharpness: -1,
  };
  const size = interfaceSize(layout);
  const activations = new Uint8Array(size);
  let at = 0;
  let elementwise = size;
  for (const field of layout) {
    const units = field.shape.reduce((a, b) => a * b, 1);
    offsets[field.name] = at;
    if (field.activation === 'softmax') elementwise = Math.min(elementwise, at);
    else activations.fill(ACTIVATION_CODES[field.activation], at, at + units);
    at += units;
  }
  const sparse = config.sparseLinks;
  return {
    slots: config.memorySlots,
    width: config.memoryWidth,
    readHeads: config.readHeads,
    writeHeads: config.writeHeads,
    modes: 1 + 2 * config.writeHeads,
    masking: config.masking,
    deallocation: config.deallocation,
    linkSharpness: config.linkSharpness,
    sparseCapacity: sparse ? Math.min(config.sparseLinkK, config.memorySlots) : 0,
    sparseK: sparse ? config.sparseLinkK : 0,
    interfaceSize: size,
    offsets: offsets as Record<keyof DncInterface, number>,
    activations,
    elementwise,
  };
}
