import {
  checkChoice,
  checkInteger,
  checkNumber,
  DEFAULT_CLIP_VALUE,
  DEFAULT_CONTROLLER,
  DEFAULT_IMPLEMENTATION,
  IMPLEMENTATIONS,
  invalidArgument,
  rejectFusedOption,
  resolveControllerConfig,
  withDefaults,
} from '@mann/core';
import type { ControllerConfig, Implementation, ModelConfig } from '@mann/core';

/**
 * Options of the DNC memory access module: what
 * `{ type: 'memory', memory: { type: 'dnc', ... } }` accepts, and (flattened) part of
 * {@link DncConfig}. Every option of the published variants is off by default, which gives
 * the DNC of Graves et al. 2016 as deepmind/dnc implements it.
 */
export interface DncMemoryConfig {
  /** N, the number of memory slots (rows). Default {@link DEFAULT_MEMORY_SLOTS} (128). */
  readonly memorySlots: number;
  /** W, the width of a memory word (columns). Default {@link DEFAULT_MEMORY_WIDTH} (20). */
  readonly memoryWidth: number;
  /** R, the number of read heads (>= 1). Default {@link DEFAULT_READ_HEADS} (4). */
  readonly readHeads: number;
  /**
   * Hw, the number of write heads (>= 1). Each has its own temporal link matrix and
   * precedence, and every read head then has 1 + 2 Hw read modes. Default
   * {@link DEFAULT_WRITE_HEADS} (1).
   */
  readonly writeHeads: number;
  /**
   * DNC-MD key-value masking (Csordas & Schmidhuber 2019): every read and write head also
   * emits a mask m = sigmoid(.) of width W, and content addressing compares `k * m` with
   * `M[i] * m`. Adds (R + Hw) W interface units. Default false.
   */
  readonly masking: boolean;
  /**
   * DNC-MD deallocation: slots freed by the free gates are also wiped,
   * `M_t = M_{t-1} * (psi 1^T) * (E - w^w e^T) + w^w v^T`. Default false.
   */
  readonly deallocation: boolean;
  /**
   * DNC-MD link-distribution sharpness: the forward and backward weightings are sharpened,
   * `S(d, s)[i] = ((d[i] + eps) / max(d + eps))^s` normalised to sum 1, with one
   * `s = oneplus(.)` per read head and direction. Adds 2R interface units. Default false.
   */
  readonly linkSharpness: boolean;
  /**
   * Sparse temporal links (DNC paper, methods): only the {@link DncMemoryConfig.sparseLinkK}
   * largest entries of w^w and of p_{t-1} enter the link update, and each row of the link
   * matrix stores at most K (column, value) pairs, so the link's cost per step grows with
   * N K instead of N^2 and the allocation sorts with gathers instead of an N x N
   * permutation. Equals the dense DNC exactly when K >= N. Default false.
   */
  readonly sparseLinks: boolean;
  /** K of {@link DncMemoryConfig.sparseLinks}. Default {@link DEFAULT_SPARSE_LINK_K} (8). */
  readonly sparseLinkK: number;
  /**
   * How a step is computed; both give the same values and gradients (tested to 1e-4 on cpu
   * and wasm for every option). `fused` (default): the whole memory step is one TF.js kernel
   * with a hand-written gradient, in plain JS loops over Float32Arrays (the dense link's
   * O(N^2) loops in WebAssembly SIMD where available), and the link stays in JS memory (the
   * state's `link` is an opaque resident tensor; `readLink` reads it); ~5x faster per
   * training step at the default size, and dense links fit far larger N. `composed`: TF.js
   * ops function by function, the reference (its link is a tensor or a `SparseLink` of
   * tensors). Covers every option. Default {@link DEFAULT_IMPLEMENTATION}.
   */
  readonly implementation: DncImplementation;
}

/**
 * The implementations of a DNC memory step: `@mann/core`'s `IMPLEMENTATIONS`, under the name
 * this package has always exported. See {@link DncMemoryConfig.implementation}.
 */
export const DNC_IMPLEMENTATIONS = IMPLEMENTATIONS;
/** One of {@link DNC_IMPLEMENTATIONS}: `@mann/core`'s `Implementation`. */
export type DncImplementation = Implementation;
/** The fused step, the faster one: `@mann/core`'s `DEFAULT_IMPLEMENTATION`. */
export { DEFAULT_IMPLEMENTATION };

/** Configuration of the DNC model, `type: 'dnc'`: a controller and a {@link DncMemoryConfig}. */
export interface DncConfig extends ModelConfig, DncMemoryConfig {
  /** Registry name of the model. */
  readonly type: 'dnc';
  /** Input channels per step. Required. */
  readonly inputSize: number;
  /** Output channels per step (logits). Required. */
  readonly outputSize: number;
  /** The controller: `lstm` (default, [100] units) or `feedforward`, one or more layers. */
  readonly controller: ControllerConfig;
  /**
   * The controller output h_t, from which the interface vector and the output are computed,
   * is clipped to +-clipValue (0 disables). Default 20 (core's `DEFAULT_CLIP_VALUE`, as
   * deepmind/dnc).
   */
  readonly clipValue: number;
  /**
   * The output logits y_t are clipped to +-outputClipValue (0 disables), as deepmind/dnc
   * clips its final output. Default {@link DEFAULT_OUTPUT_CLIP_VALUE} (20).
   */
  readonly outputClipValue: number;
}

/** 128 slots, the memory size used across mann (docs/spec.md section 2: 128 x 20). */
export const DEFAULT_MEMORY_SLOTS = 128;
/** Words of 20 numbers. */
export const DEFAULT_MEMORY_WIDTH = 20;
/** Four read heads (deepmind/dnc's default). */
export const DEFAULT_READ_HEADS = 4;
/** One write head. */
export const DEFAULT_WRITE_HEADS = 1;
/** K = 8 "suffices" (DNC paper, methods). */
export const DEFAULT_SPARSE_LINK_K = 8;
/** Output logits clipped to +-20, as deepmind/dnc. */
export const DEFAULT_OUTPUT_CLIP_VALUE = 20;

/** Defaults of {@link DncMemoryConfig}: the plain DNC, memory 128 x 20, 4 read heads, 1 write head. */
export const DEFAULT_DNC_MEMORY_CONFIG: DncMemoryConfig = {
  memorySlots: DEFAULT_MEMORY_SLOTS,
  memoryWidth: DEFAULT_MEMORY_WIDTH,
  readHeads: DEFAULT_READ_HEADS,
  writeHeads: DEFAULT_WRITE_HEADS,
  masking: false,
  deallocation: false,
  linkSharpness: false,
  sparseLinks: false,
  sparseLinkK: DEFAULT_SPARSE_LINK_K,
  implementation: DEFAULT_IMPLEMENTATION,
};

/** What {@link resolveDncConfig} and `createDnc` accept: the sizes plus any subset of the options. */
export type DncOptions = Partial<DncMemoryConfig> & {
  readonly type?: 'dnc';
  readonly inputSize: number;
  readonly outputSize: number;
  readonly controller?: Partial<ControllerConfig>;
  readonly clipValue?: number;
  readonly outputClipValue?: number;
};

function checkBoolean(name: string, value: unknown): void {
  if (typeof value !== 'boolean') throw invalidArgument(name, value, 'true or false');
}

/** Validates the memory options (shared by the model and the memory-scheme entry). */
function validateMemoryConfig(config: DncMemoryConfig): DncMemoryConfig {
  checkInteger('memorySlots', config.memorySlots, 1);
  checkInteger('memoryWidth', config.memoryWidth, 1);
  checkInteger('readHeads', config.readHeads, 1);
  checkInteger('writeHeads', config.writeHeads, 1);
  checkBoolean('masking', config.masking);
  checkBoolean('deallocation', config.deallocation);
  checkBoolean('linkSharpness', config.linkSharpness);
  checkBoolean('sparseLinks', config.sparseLinks);
  checkInteger('sparseLinkK', config.sparseLinkK, 1);
  checkChoice('implementation', config.implementation, DNC_IMPLEMENTATIONS);
  return config;
}

/**
 * Fills the defaults of the memory options and validates them. Unknown keys and bad values
 * throw a MannError naming the option, the offending value and what is accepted.
 */
export function resolveDncMemoryConfig(given: Partial<DncMemoryConfig> = {}): DncMemoryConfig {
  rejectFusedOption('dnc memory config', given);
  return validateMemoryConfig(withDefaults('dnc memory config', DEFAULT_DNC_MEMORY_CONFIG, given));
}

/**
 * Fills the defaults of a DNC model config and validates it. Unknown keys and bad values throw
 * a MannError naming the option and the offending value.
 */
export function resolveDncConfig(given: DncOptions): DncConfig {
  if (given === null || typeof given !== 'object')
    throw invalidArgument('dnc config', given, 'an object');
  rejectFusedOption('dnc config', given);
  const defaults: DncConfig = {
    type: 'dnc',
    inputSize: given.inputSize,
    outputSize: given.outputSize,
    controller: DEFAULT_CONTROLLER,
    clipValue: DEFAULT_CLIP_VALUE,
    outputClipValue: DEFAULT_OUTPUT_CLIP_VALUE,
    ...DEFAULT_DNC_MEMORY_CONFIG,
  };
  const config = withDefaults('dnc config', defaults, given as Partial<DncConfig>);
  if (config.type !== 'dnc') throw invalidArgument('type', config.type, "'dnc'");
  checkInteger('inputSize', config.inputSize, 1);
  checkInteger('outputSize', config.outputSize, 1);
  checkNumber('clipValue', config.clipValue, 0);
  checkNumber('outputClipValue', config.outputClipValue, 0);
  validateMemoryConfig(config);
  const controller = resolveControllerConfig(config.controller);
  return { ...config, controller: { ...controller, hiddenSizes: [...controller.hiddenSizes] } };
}

/** The memory options of a model config (everything except type, sizes, controller, clips). */
export function memoryConfigOf(config: DncConfig): DncMemoryConfig {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_DNC_MEMORY_CONFIG)) out[key] = config[key];
  return out as unknown as DncMemoryConfig;
}
