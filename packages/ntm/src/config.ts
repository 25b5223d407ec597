import {
  checkChoice,
  checkInteger,
  checkNumber,
  DEFAULT_CLIP_VALUE,
  DEFAULT_CONTROLLER,
  DEFAULT_IMPLEMENTATION,
  IMPLEMENTATIONS,
  invalidArgument,
  MannError,
  rejectFusedOption,
  resolveControllerConfig,
  withDefaults,
} from '@mann/core';
import type { ControllerConfig, Implementation, ModelConfig } from '@mann/core';

// The implementation switch is core's, shared with the DNC and the LSTM baseline; this package
// re-exports it under the names it has always exported.
export { DEFAULT_IMPLEMENTATION, IMPLEMENTATIONS } from '@mann/core';
export type { Implementation } from '@mann/core';

/** Activations of the key k: none (as pytorch-ntm) or tanh (as Collier & Beel 2018). */
export const KEY_ACTIVATIONS = ['none', 'tanh'] as const;
/** Activation of the key k. */
export type KeyActivation = (typeof KEY_ACTIVATIONS)[number];

/** Activations of the strength beta: softplus (beta > 0) or oneplus (beta >= 1). */
export const STRENGTH_ACTIVATIONS = ['softplus', 'oneplus'] as const;
/** Activation of the strength beta. */
export type StrengthActivation = (typeof STRENGTH_ACTIVATIONS)[number];

/** How the memory M_0 is initialised. */
export const MEMORY_INITS = ['constant', 'learned', 'random'] as const;
/** How the memory M_0 is initialised; see {@link NtmMemoryConfig.memoryInit}. */
export type MemoryInit = (typeof MEMORY_INITS)[number];

/** How the initial weightings w_0 of every head are chosen. */
export const WEIGHTING_INITS = ['learned', 'uniform', 'one-hot', 'zeros'] as const;
/** How the initial weightings w_0 are chosen; see {@link NtmMemoryConfig.initialWeighting}. */
export type WeightingInit = (typeof WEIGHTING_INITS)[number];

/** How the initial read vectors r_0 are chosen. */
export const READ_INITS = ['learned', 'zeros'] as const;
/** How the initial read vectors r_0 are chosen; see {@link NtmMemoryConfig.initialReads}. */
export type ReadInit = (typeof READ_INITS)[number];

/**
 * Options of the NTM memory and its heads: what `{ type: 'memory', memory: { type: 'ntm', ... } }`
 * accepts, and (flattened) part of {@link NtmConfig}.
 */
export interface NtmMemoryConfig {
  /** N, the number of memory slots (rows). Default {@link DEFAULT_MEMORY_SLOTS} (128). */
  readonly memorySlots: number;
  /** W, the width of a memory word (columns). Default {@link DEFAULT_MEMORY_WIDTH} (20). */
  readonly memoryWidth: number;
  /** R, the number of read heads (>= 1). Default {@link DEFAULT_READ_HEADS} (1). */
  readonly readHeads: number;
  /** Hw, the number of write heads (>= 0). Default {@link DEFAULT_WRITE_HEADS} (1). */
  readonly writeHeads: number;
  /**
   * k: each head may shift its weighting by -k..+k slots (S = 2k + 1 shift weights per head;
   * the memory needs N >= S). Default {@link DEFAULT_SHIFT_RANGE} (1: shifts -1, 0, +1).
   */
  readonly shiftRange: number;
  /** Activation of the key k. Default {@link DEFAULT_KEY_ACTIVATION} (`none`). */
  readonly keyActivation: KeyActivation;
  /** Activation of the strength beta. Default {@link DEFAULT_STRENGTH_ACTIVATION} (`softplus`). */
  readonly strengthActivation: StrengthActivation;
  /**
   * M_0: `constant` (every entry {@link NtmMemoryConfig.memoryInitValue}; Collier & Beel 2018
   * found it converges fastest), `learned` (a trained [N, W] parameter), or `random` (drawn
   * once from the model's seeded generator, uniform in +-1/sqrt(N + W), then held fixed, as
   * pytorch-ntm's memory buffer). Default {@link DEFAULT_MEMORY_INIT} (`constant`).
   */
  readonly memoryInit: MemoryInit;
  /** Value of every entry of M_0 when `memoryInit` is `constant`. Default {@link DEFAULT_MEMORY_INIT_VALUE} (1e-6). */
  readonly memoryInitValue: number;
  /**
   * w_0 of every read and write head: `learned` (softmax of trained logits that start
   * random, so identical constant rows still get distinct weights), `uniform` (1/N
   * everywhere, fixed), `one-hot` (all weight on slot 0, fixed) or `zeros` (as pytorch-ntm:
   * the first step's weighting is g times the content weighting, shifted and sharpened, and
   * sharpening renormalises it; on a constant memory every head then stays uniform, so pair
   * it with `memoryInit: 'random'`).
   * Default {@link DEFAULT_INITIAL_WEIGHTING} (`learned`).
   */
  readonly initialWeighting: WeightingInit;
  /**
   * r_0 fed to the controller at the first step: `learned` (tanh of a trained bias that
   * starts random) or `zeros`. Default {@link DEFAULT_INITIAL_READS} (`learned`).
   */
  readonly initialReads: ReadInit;
  /**
   * Also trace the addressing internals (content weights, strength, gate, shift, gamma, and
   * the write heads' erase and add vectors) whenever a trace is requested.
   * Default {@link DEFAULT_TRACE_ADDRESSING} (false: only read and write weightings).
   */
  readonly traceAddressing: boolean;
  /**
   * How the model computes; both give the same values and gradients (tests hold them to 1e-4
   * on cpu and wasm). `fused`: each memory step (activations, addressing, read, write) is one
   * TF.js op with a hand-written gradient, computed on the values (the passes over the memory
   * in WebAssembly SIMD when W is a multiple of 4 and there is at most one write head, else
   * plain JS), a handful of kernel launches instead of ~100 forward and ~200 backward; with a
   * one-layer LSTM controller `run` goes further and computes the whole sequence as one op
   * (see `NtmModel`). `composed`: the TF.js ops of `addressHeads`, `readMemory` and
   * `writeMemory` step by step, the readable reference. Traces of the addressing internals
   * (`traceAddressing`) always come from the composed step.
   * Default {@link DEFAULT_IMPLEMENTATION} (`fused`).
   */
  readonly implementation: Implementation;
}

/** Configuration of the NTM model, `type: 'ntm'`: a controller and an {@link NtmMemoryConfig}. */
export interface NtmConfig extends ModelConfig, NtmMemoryConfig {
  /** Registry name of the model. */
  readonly type: 'ntm';
  /** Input channels per step. Required. */
  readonly inputSize: number;
  /** Output channels per step (logits). Required. */
  readonly outputSize: number;
  /** The controller: `lstm` or `feedforward`, one or more layers. Default LSTM with [100] units. */
  readonly controller: ControllerConfig;
  /** Controller outputs are clipped to +-clipValue (0 disables). Default 20 (`DEFAULT_CLIP_VALUE`). */
  readonly clipValue: number;
}

/** Paper copy configuration: 128 slots. */
export const DEFAULT_MEMORY_SLOTS = 128;
/** Paper copy configuration: words of 20. */
export const DEFAULT_MEMORY_WIDTH = 20;
/** One read head. */
export const DEFAULT_READ_HEADS = 1;
/** One write head. */
export const DEFAULT_WRITE_HEADS = 1;
/** Shifts -1, 0, +1. */
export const DEFAULT_SHIFT_RANGE = 1;
/** No key activation (as pytorch-ntm). */
export const DEFAULT_KEY_ACTIVATION: KeyActivation = 'none';
/** beta = softplus(.) (as pytorch-ntm and Collier & Beel). */
export const DEFAULT_STRENGTH_ACTIVATION: StrengthActivation = 'softplus';
/** A small constant memory (Collier & Beel 2018). */
export const DEFAULT_MEMORY_INIT: MemoryInit = 'constant';
/** The small constant of the default memory initialisation. */
export const DEFAULT_MEMORY_INIT_VALUE = 1e-6;
/** Learned initial weightings (they break the symmetry of a constant memory). */
export const DEFAULT_INITIAL_WEIGHTING: WeightingInit = 'learned';
/** Learned initial read vectors. */
export const DEFAULT_INITIAL_READS: ReadInit = 'learned';
/** Trace only the weightings. */
export const DEFAULT_TRACE_ADDRESSING = false;

/** Defaults of {@link NtmMemoryConfig}: the NTM paper's copy configuration. */
export const DEFAULT_NTM_MEMORY_CONFIG: NtmMemoryConfig = {
  memorySlots: DEFAULT_MEMORY_SLOTS,
  memoryWidth: DEFAULT_MEMORY_WIDTH,
  readHeads: DEFAULT_READ_HEADS,
  writeHeads: DEFAULT_WRITE_HEADS,
  shiftRange: DEFAULT_SHIFT_RANGE,
  keyActivation: DEFAULT_KEY_ACTIVATION,
  strengthActivation: DEFAULT_STRENGTH_ACTIVATION,
  memoryInit: DEFAULT_MEMORY_INIT,
  memoryInitValue: DEFAULT_MEMORY_INIT_VALUE,
  initialWeighting: DEFAULT_INITIAL_WEIGHTING,
  initialReads: DEFAULT_INITIAL_READS,
  traceAddressing: DEFAULT_TRACE_ADDRESSING,
  implementation: DEFAULT_IMPLEMENTATION,
};

/** What {@link resolveNtmConfig} and `createNtm` accept: the sizes plus any subset of the options. */
export type NtmOptions = Partial<NtmMemoryConfig> & {
  readonly type?: 'ntm';
  readonly inputSize: number;
  readonly outputSize: number;
  readonly controller?: Partial<ControllerConfig>;
  readonly clipValue?: number;
};

/** Validates the memory options (shared by the model and the memory-scheme entry). */
function validateMemoryConfig(config: NtmMemoryConfig): NtmMemoryConfig {
  const slots = checkInteger('memorySlots', config.memorySlots, 1);
  checkInteger('memoryWidth', config.memoryWidth, 1);
  checkInteger('readHeads', config.readHeads, 1);
  checkInteger('writeHeads', config.writeHeads, 0);
  const range = checkInteger('shiftRange', config.shiftRange, 0);
  if (2 * range + 1 > slots) {
    throw new MannError(
      `shiftRange must satisfy 2 * shiftRange + 1 <= memorySlots (${slots}), got ${range} (${2 * range + 1} shifts)`,
    );
  }
  checkChoice('keyActivation', config.keyActivation, KEY_ACTIVATIONS);
  checkChoice('strengthActivation', config.strengthActivation, STRENGTH_ACTIVATIONS);
  checkChoice('memoryInit', config.memoryInit, MEMORY_INITS);
  checkNumber('memoryInitValue', config.memoryInitValue);
  checkChoice('initialWeighting', config.initialWeighting, WEIGHTING_INITS);
  checkChoice('initialReads', config.initialReads, READ_INITS);
  if (typeof config.traceAddressing !== 'boolean') {
    throw invalidArgument('traceAddressing', config.traceAddressing, 'true or false');
  }
  checkChoice('implementation', config.implementation, IMPLEMENTATIONS);
  return config;
}

/**
 * Fills the defaults of the memory options and validates them. Unknown keys and bad values
 * throw a MannError naming the option, the offending value and what is accepted.
 */
export function resolveNtmMemoryConfig(given: Partial<NtmMemoryConfig> = {}): NtmMemoryConfig {
  rejectFusedOption('ntm memory config', given);
  return validateMemoryConfig(withDefaults('ntm memory config', DEFAULT_NTM_MEMORY_CONFIG, given));
}

/**
 * Fills the defaults of an NTM model config (the paper's copy configuration) and validates it.
 * Unknown keys and bad values throw a MannError naming the option and the offending value.
 */
export function resolveNtmConfig(given: NtmOptions): NtmConfig {
  if (given === null || typeof given !== 'object') {
    throw invalidArgument('ntm config', given, 'an object');
  }
  rejectFusedOption('ntm config', given);
  const defaults: NtmConfig = {
    type: 'ntm',
    inputSize: given.inputSize,
    outputSize: given.outputSize,
    controller: DEFAULT_CONTROLLER,
    clipValue: DEFAULT_CLIP_VALUE,
    ...DEFAULT_NTM_MEMORY_CONFIG,
  };
  const config = withDefaults('ntm config', defaults, given as Partial<NtmConfig>);
  if (config.type !== 'ntm') throw invalidArgument('type', config.type, "'ntm'");
  checkInteger('inputSize', config.inputSize, 1);
  checkInteger('outputSize', config.outputSize, 1);
  checkNumber('clipValue', config.clipValue, 0);
  validateMemoryConfig(config);
  const controller = resolveControllerConfig(config.controller);
  return { ...config, controller: { ...controller, hiddenSizes: [...controller.hiddenSizes] } };
}

/** The memory options of a model config (everything except type, sizes, controller, clip). */
export function memoryConfigOf(config: NtmConfig): NtmMemoryConfig {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_NTM_MEMORY_CONFIG)) out[key] = config[key];
  return out as unknown as NtmMemoryConfig;
}
