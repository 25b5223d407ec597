import * as tf from '@tensorflow/tfjs';
import { checkInteger, checkShape, contentWeights, MannError, tidy } from '@mann/core';
import type { MemoryAccess, StepOptions, StepTrace } from '@mann/core';
import { resolveDncMemoryConfig } from './config.js';
import type { DncMemoryConfig } from './config.js';
import { interfaceLayout, interfaceSize, parseInterface } from './interface.js';
import type { DncInterface, InterfaceField } from './interface.js';
import { retentionVector, usageAfterWrite } from './usage.js';
import { writeAllocationWeightings } from './allocation.js';
import { eraseAndWrite, writeWeighting } from './write.js';
import { directionalWeights, updatePrecedence, updateTemporalLink } from './temporal-link.js';
import {
  initialSparseLink,
  isSparseLink,
  sparseDirectionalWeights,
  updateSparseLink,
} from './sparse-link.js';
import { sharpenLinkWeights } from './sharpness.js';
import { readVectors, readWeighting } from './read.js';
import type { DncState, TemporalLink } from './state.js';

export type { DncState, TemporalLink } from './state.js';

/** What {@link DncMemory.step} returns. */
export interface DncStepResult {
  readonly reads: tf.Tensor2D;
  readonly state: DncState;
  readonly trace?: StepTrace;
}

/**
 * The DNC's memory access module (Graves et al. 2016), with the DNC-MD options and sparse
 * links of {@link DncMemoryConfig}. Has no learned parameters: the initial state is all zeros
 * (memory, usage, link, precedence, weightings and read vectors), as deepmind/dnc; allocation
 * breaks the symmetry of the empty memory.
 *
 * One {@link DncMemory.step}, in the order of docs/spec.md section 3:
 * 1. retention psi from the free gates and w^r_{t-1};
 * 2. usage u_t from u_{t-1} and w^w_{t-1} (gradient stopped through w^w_{t-1}), times psi;
 * 3. allocation a_t from the sorted usage (one head after another with several write heads);
 * 4. write weighting w^w_t from a_t and the content weights on M_{t-1};
 * 5. erase and write M_t (times psi with DNC-MD deallocation);
 * 6. link L_t from the OLD precedence p_{t-1}, diagonal 0; then p_t;
 * 7. read weightings from the content weights on the NEW M_t and the forward and backward
 *    weightings of the NEW L_t (sharpened with DNC-MD link sharpness);
 * 8. read vectors r_t = M_t^T w^r_t.
 *
 * This class is the composed reference (TF.js ops that follow docs/spec.md; its
 * `config.implementation` is always `'composed'`). {@link createDncMemory} builds the memory a
 * config asks for: with `implementation: 'fused'` (the default) a subclass whose step is one
 * kernel (`fused/memory.ts`) with the same values and gradients.
 *
 * Trace keys (when `step` is asked for a trace): `readWeights` [B, R, N], `writeWeights`
 * [B, Hw, N], `usage` [B, N], `allocation` [B, Hw, N], `freeGates` [B, R], `allocationGate`
 * [B, Hw], `writeGate` [B, Hw], `readModes` [B, R, 1 + 2 Hw].
 */
export class DncMemory implements MemoryAccess<DncState> {
  readonly config: DncMemoryConfig;
  /** The split of the interface vector. */
  readonly layout: readonly InterfaceField[];
  readonly interfaceSize: number;
  /** R W: all read vectors concatenated. */
  readonly readSize: number;
  /** Entries stored per link row with sparse links, min(K, N). */
  readonly sparseCapacity: number;
  constructor(config: Partial<DncMemoryConfig> = {}) {
    const resolved = resolveDncMemoryConfig(config);
    // Built directly, this is the reference whatever the config asks; subclasses keep theirs.
    this.config = new.target === DncMemory ? { ...resolved, implementation: 'composed' } : resolved;
    this.layout = interfaceLayout(this.config);
    this.interfaceSize = interfaceSize(this.layout);
    this.readSize = this.config.readHeads * this.config.memoryWidth;
    this.sparseCapacity = Math.min(this.config.sparseLinkK, this.config.memorySlots);
  }

  /**
   * All zeros; with sparse links every row stores K zero entries. (The fused subclass's link
   * is resident instead, see {@link TemporalLink}.)
   */
  initialState(batchSize: number): DncState {
    checkInteger('batchSize', batchSize, 1);
    const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = this.config;
    return {
      memory: tf.zeros([batchSize, n, w]),
      usage: tf.zeros([batchSize, n]),
      link: this.initialLink(batchSize),
      precedence: tf.zeros([batchSize, hw, n]),
      readWeights: tf.zeros([batchSize, r, n]),
      writeWeights: tf.zeros([batchSize, hw, n]),
    };
  }

  /** L_0 = 0: dense [B, Hw, N, N], or a SparseLink with K zero entries a row. */
  protected initialLink(batchSize: number): TemporalLink {
    const { memorySlots: n, writeHeads: hw, sparseLinks } = this.config;
    return sparseLinks
      ? initialSparseLink(batchSize, hw, n, this.sparseCapacity)
      : tf.zeros([batchSize, hw, n, n]);
  }

  /** r_0 = 0, [B, R W]. */
  initialReads(batchSize: number): tf.Tensor2D {
    checkInteger('batchSize', batchSize, 1);
    return tf.zeros([batchSize, this.readSize]);
  }

  /** One step; see the class documentation for the order. */
  step(interfaceVector: tf.Tensor2D, state: DncState, options: StepOptions = {}): DncStepResult {
    const { memoryWidth: w, readHeads: r, sparseLinks, sparseLinkK, deallocation } = this.config;
    this.checkStep(interfaceVector, state);
    const batch = interfaceVector.shape[0];
    const prevLink = state.link;
    if (prevLink instanceof tf.Tensor && prevLink.rank === 0) {
      throw new MannError(
        'state.link is a resident link from the fused implementation; the composed one takes a tensor or a SparseLink: pass readLink(state.link) (differentiable)',
      );
    }
    if (isSparseLink(prevLink) !== sparseLinks) {
      throw new MannError(
        `state.link must be ${sparseLinks ? 'a SparseLink' : 'a dense [B, Hw, N, N] tensor'} for this memory`,
      );
    }
    return tidy(() => {
      const xi = parseInterface(interfaceVector, this.layout);
      const retention = retentionVector(xi.freeGates, state.readWeights);
      const usage = tf.mul(
        usageAfterWrite(state.usage, state.writeWeights),
        retention,
      ) as tf.Tensor2D;
      const allocation = writeAllocationWeightings(
        usage,
        tf.mul(xi.allocationGates, xi.writeGates),
        {
          permutation: sparseLinks ? 'gather' : 'matmul',
        },
      );
      const writeContent = contentWeights(
        state.memory,
        xi.writeKeys,
        xi.writeStrengths,
        xi.writeMasks,
      );
      const writeWeights = writeWeighting(
        allocation,
        writeContent,
        xi.allocationGates,
        xi.writeGates,
      );
      const memory = eraseAndWrite(
        state.memory,
        writeWeights,
        xi.eraseVectors,
        xi.writeVectors,
        deallocation ? retention : undefined,
      );
      let link: TemporalLink;
      let backward: tf.Tensor4D;
      let forward: tf.Tensor4D;
      if (isSparseLink(prevLink)) {
        const sparse = updateSparseLink(prevLink, state.precedence, writeWeights, sparseLinkK);
        backward = sparseDirectionalWeights(sparse, state.readWeights, false);
        forward = sparseDirectionalWeights(sparse, state.readWeights, true);
        link = sparse;
      } else {
        const dense = updateTemporalLink(prevLink as tf.Tensor4D, state.precedence, writeWeights);
        backward = directionalWeights(dense, state.readWeights, false);
        forward = directionalWeights(dense, state.readWeights, true);
        link = dense;
      }
      const precedence = updatePrecedence(state.precedence, writeWeights);
      if (xi.linkSharpness) {
        const [sharpBackward, sharpForward] = tf.unstack(xi.linkSharpness, 2) as [
          tf.Tensor2D,
          tf.Tensor2D,
        ];
        backward = sharpenLinkWeights(backward, sharpBackward);
        forward = sharpenLinkWeights(forward, sharpForward);
      }
      const readContent = contentWeights(memory, xi.readKeys, xi.readStrengths, xi.readMasks);
      const readWeights = readWeighting(readContent, backward, forward, xi.readModes);
      const reads = readVectors(memory, readWeights).reshape([batch, r * w]) as tf.Tensor2D;
      const next: DncState = { memory, usage, link, precedence, readWeights, writeWeights };
      if (!options.trace) return { reads, state: next };
      return { reads, state: next, trace: this.stepTrace(xi, next, allocation) };
    });
  }

  /** A step's trace (the keys of the class documentation) from its interface and new state. */
  protected stepTrace(xi: DncInterface, next: DncState, allocation: tf.Tensor): StepTrace {
    return {
      readWeights: next.readWeights,
      writeWeights: next.writeWeights,
      usage: next.usage,
      allocation,
      freeGates: xi.freeGates,
      allocationGate: xi.allocationGates,
      writeGate: xi.writeGates,
      readModes: xi.readModes,
    };
  }

  /** Checks the shapes of a step's inputs, naming the one that is wrong. */
  protected checkStep(interfaceVector: tf.Tensor2D, state: DncState): void {
    const { memorySlots: n, memoryWidth: w } = this.config;
    checkShape(
      'interfaceVector',
      interfaceVector,
      [null, this.interfaceSize],
      '[B, interfaceSize]',
    );
    checkShape('state.memory', state.memory, [interfaceVector.shape[0], n, w], '[B, N, W]');
  }
}
