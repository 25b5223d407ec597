import * as tf from '@tensorflow/tfjs';
import { checkShape, repeatBatch, stopGradient, tidy } from '@mann/core';
import type { MemoryAccess, ParameterScope, StepOptions, StepTrace } from '@mann/core';
import { addressHeads } from './addressing.js';
import type { NtmMemoryConfig } from './config.js';
import { headLayout, interfaceSize, splitInterface } from './heads.js';
import type { HeadActivations, HeadLayout } from './heads.js';
import { readMemory, writeMemory } from './memory-ops.js';

/** What {@link NtmMemory.step} returns. */
export interface NtmStepResult {
  readonly reads: tf.Tensor2D;
  readonly state: NtmState;
  readonly trace?: StepTrace;
}

/** The NTM memory's recurrent state. Never mutated: each step returns a new one. */
export interface NtmState {
  /** M_t, the memory, [B, N, W]. */
  readonly memory: tf.Tensor3D;
  /** w^r_t, the read heads' weightings, [B, R, N]. */
  readonly readWeights: tf.Tensor3D;
  /** w^w_t, the write heads' weightings, [B, Hw, N]. */
  readonly writeWeights: tf.Tensor3D;
}

/** Options of {@link NtmMemory.step}. */
export interface NtmStepOptions extends StepOptions {
  /** Trace the addressing internals too; overrides the config's `traceAddressing`. */
  readonly traceAddressing?: boolean;
}

/**
 * The NTM's memory and heads (Graves et al. 2014, section 3) behind the `MemoryAccess`
 * interface, so that `buildMemoryNetwork` can wire it to any controller.
 *
 * Order within a step, fixed:
 * 1. split the interface vector into the heads' parameters ({@link splitInterface});
 * 2. address: every head, read and write, computes its weighting from M_{t-1} and its own
 *    previous weighting (all R + Hw heads in the same ops);
 * 3. read: r_t from M_{t-1} with the new read weightings;
 * 4. write: M_t from M_{t-1}, all heads' erases first, then all heads' adds.
 *
 * Parameters (under the memory's scope): `initialMemory` [N, W] when `memoryInit` is
 * `learned` or `random` (the random one is non-trainable and its gradient stopped, so it
 * stays fixed);
 * `initialWeightLogits` [R + Hw, N] when `initialWeighting` is `learned`;
 * `initialReadBias` [R, W] when `initialReads` is `learned`.
 *
 * This class is the composed reference: its step is TF.js ops that follow docs/spec.md, and its
 * `config.implementation` is always `'composed'`. {@link createNtmMemory} builds the memory a
 * config asks for: with `implementation: 'fused'` (the default) a subclass whose step is one op
 * (`fused/memory.ts`) with the same values and gradients, except when the addressing internals
 * are traced.
 *
 * Trace keys (when a trace is requested): `readWeights` [B, R, N], `writeWeights`
 * [B, Hw, N]; with `traceAddressing`, also for each kind `read.*` / `write.*`:
 * `contentWeights` [B, H, N], `beta` [B, H], `gate` [B, H], `shift` [B, H, S], `gamma` [B, H],
 * and `write.erase`, `write.add` [B, Hw, W].
 */
export class NtmMemory implements MemoryAccess<NtmState> {
  readonly config: NtmMemoryConfig;
  /** How the interface vector is split into the heads' parameters. */
  readonly layout: HeadLayout;
  readonly interfaceSize: number;
  /** R * W */
  readonly readSize: number;
  /** M_0 when learned or random, [N, W]. */
  readonly initialMemory?: tf.Variable;
  /** Logits of w_0 of all heads (read heads first) when learned, [R + Hw, N]. */
  readonly initialWeightLogits?: tf.Variable;
  /** r_0 = tanh(initialReadBias) when learned, [R, W]. */
  readonly initialReadBias?: tf.Variable;
  private readonly activations: HeadActivations;

  /**
   * @param config - a resolved config (see `resolveNtmMemoryConfig`)
   * @param scope - where the learned initial state goes; its generator draws the random values
   */
  constructor(config: NtmMemoryConfig, scope: ParameterScope) {
    // Built directly, this is the reference whatever the config asks; subclasses keep theirs.
    this.config = new.target === NtmMemory ? { ...config, implementation: 'composed' } : config;
    const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = config;
    this.layout = headLayout(w, config.shiftRange, r, hw);
    this.interfaceSize = interfaceSize(this.layout);
    this.readSize = r * w;
    this.activations = { key: config.keyActivation, strength: config.strengthActivation };
    if (config.memoryInit !== 'constant') {
      // as pytorch-ntm's memory bias: uniform in +-1/sqrt(N + W)
      const limit = 1 / Math.sqrt(n + w);
      // A random memory is drawn once and held fixed: a non-trainable parameter, so
      // checkpoints keep it and the trainer leaves it alone.
      this.initialMemory = scope.create(
        'initialMemory',
        [n, w],
        { kind: 'uniform', low: -limit, high: limit },
        { trainable: config.memoryInit === 'learned' },
      );
    }
    if (config.initialWeighting === 'learned') {
      // Random logits, as Collier & Beel's learned_init (a bias-free dense layer fed a 1):
      // zero logits on a constant memory would keep every slot alike forever.
      this.initialWeightLogits = scope.create('initialWeightLogits', [r + hw, n], {
        kind: 'glorotUniform',
        fanIn: 1,
        fanOut: n,
      });
    }
    if (config.initialReads === 'learned') {
      this.initialReadBias = scope.create('initialReadBias', [r, w], {
        kind: 'glorotUniform',
        fanIn: 1,
        fanOut: w,
      });
    }
  }

  initialState(batchSize: number): NtmState {
    const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = this.config;
    return tidy(() => {
      const repeat = <T extends tf.Tensor>(x: tf.Tensor): T => repeatBatch<T>(x, batchSize);
      let memory: tf.Tensor3D;
      if (this.initialMemory === undefined) {
        memory = tf.fill([batchSize, n, w], this.config.memoryInitValue) as tf.Tensor3D;
      } else if (this.config.memoryInit === 'random') {
        memory = repeat(stopGradient(this.initialMemory));
      } else {
        memory = repeat(this.initialMemory);
      }
      let weights: tf.Tensor2D; // [R + Hw, N]
      if (this.initialWeightLogits !== undefined) {
        weights = tf.softmax(this.initialWeightLogits as tf.Tensor2D);
      } else if (this.config.initialWeighting === 'uniform') {
        weights = tf.fill([r + hw, n], 1 / n) as tf.Tensor2D;
      } else if (this.config.initialWeighting === 'zeros') {
        weights = tf.zeros([r + hw, n]);
      } else {
        weights = tf.cast(
          tf.oneHot(tf.zeros([r + hw], 'int32') as tf.Tensor1D, n),
          'float32',
        ) as tf.Tensor2D;
      }
      const all = repeat<tf.Tensor3D>(weights);
      return {
        memory,
        readWeights: tf.slice(all, [0, 0, 0], [batchSize, r, n]),
        writeWeights: tf.slice(all, [0, r, 0], [batchSize, hw, n]),
      };
    });
  }

  initialReads(batchSize: number): tf.Tensor2D {
    if (this.initialReadBias === undefined) return tf.zeros([batchSize, this.readSize]);
    const bias = this.initialReadBias;
    return tf.tidy(() => repeatBatch(tf.reshape(tf.tanh(bias), [this.readSize]), batchSize));
  }

  step(interfaceVector: tf.Tensor2D, state: NtmState, options: NtmStepOptions = {}): NtmStepResult {
    this.checkStep(interfaceVector, state);
    const { memoryWidth: w, readHeads: r, writeHeads: hw } = this.config;
    const batch = interfaceVector.shape[0];
    const traceAddressing = this.tracesAddressing(options);
    return tidy(() => {
      const heads = splitInterface(interfaceVector, this.layout, this.activations);
      // 1. all heads address M_{t-1} from their own previous weightings
      const previous =
        hw > 0 ? tf.concat([state.readWeights, state.writeWeights], 1) : state.readWeights;
      const addressing = addressHeads(state.memory, heads, previous);
      const [readWeights, writeWeights] = this.byKind(addressing.weights);
      // 2. read from M_{t-1}
      const reads = tf.reshape(readMemory(state.memory, readWeights), [
        batch,
        r * w,
      ]) as tf.Tensor2D;
      // 3. write: erases, then adds
      const memory = writeMemory(state.memory, writeWeights, heads.erase, heads.add);
      const next: NtmState = { memory, readWeights, writeWeights };
      if (!options.trace) return { reads, state: next };
      const trace: Record<string, tf.Tensor> = { readWeights, writeWeights };
      if (traceAddressing) {
        const internals = {
          contentWeights: addressing.contentWeights,
          beta: heads.beta,
          gate: heads.gate,
          shift: heads.shift,
          gamma: heads.gamma,
        };
        for (const [name, value] of Object.entries(internals)) {
          const [read, write] = this.byKind(value);
          trace[`read.${name}`] = read;
          trace[`write.${name}`] = write;
        }
        trace['write.erase'] = heads.erase;
        trace['write.add'] = heads.add;
      }
      return { reads, state: next, trace };
    });
  }

  /** Checks the shapes of a step's inputs, naming the one that is wrong. */
  protected checkStep(interfaceVector: tf.Tensor2D, state: NtmState): void {
    const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = this.config;
    checkShape(
      'interfaceVector',
      interfaceVector,
      [null, this.interfaceSize],
      '[B, interfaceSize]',
    );
    const batch = interfaceVector.shape[0];
    checkShape('state.memory', state.memory, [batch, n, w], '[B, N, W]');
    checkShape('state.readWeights', state.readWeights, [batch, r, n], '[B, R, N]');
    checkShape('state.writeWeights', state.writeWeights, [batch, hw, n], '[B, Hw, N]');
  }

  /** Whether a step with these options traces the addressing internals. */
  protected tracesAddressing(options: NtmStepOptions): boolean {
    return Boolean(options.trace && (options.traceAddressing ?? this.config.traceAddressing));
  }

  /** Splits a per-head tensor [B, R + Hw, ...] into the read heads' and write heads' parts. */
  private byKind<T extends tf.Tensor>(x: T): [T, T] {
    const { readHeads: r, writeHeads: hw } = this.config;
    const begin = (head: number): number[] => x.shape.map((_, axis) => (axis === 1 ? head : 0));
    const size = (heads: number): number[] => x.shape.map((s, axis) => (axis === 1 ? heads : s));
    return [tf.slice(x, begin(0), size(r)) as T, tf.slice(x, begin(r), size(hw)) as T];
  }
}
