import type * as tf from '@tensorflow/tfjs';
import { tidy } from '@mann/core';
import type { StepOptions } from '@mann/core';
import type { DncMemoryConfig } from '../config.js';
import { parseInterface } from '../interface.js';
import { DncMemory } from '../memory.js';
import type { DncStepResult } from '../memory.js';
import type { DncState, TemporalLink } from '../state.js';
import { FusedMemoryStep } from './step-op.js';

/**
 * The DNC memory with `implementation: 'fused'`: the reference's layout and state, with a
 * resident link (see `resident-link.ts`) and a step that is one kernel (`step-op.ts`) with the
 * reference's values and gradients; traces add the gates and read modes from `parseInterface`.
 */
export class FusedDncMemory extends DncMemory {
  /** The fused step (and the whole-sequence adapter's source of kernels and passes). */
  readonly fused: FusedMemoryStep;

  constructor(config: Partial<DncMemoryConfig> = {}) {
    super(config);
    this.fused = new FusedMemoryStep(this.config);
  }

  protected override initialLink(batchSize: number): TemporalLink {
    return this.fused.initialLink(batchSize);
  }

  override step(
    interfaceVector: tf.Tensor2D,
    state: DncState,
    options: StepOptions = {},
  ): DncStepResult {
    this.checkStep(interfaceVector, state);
    return tidy(() => {
      const { reads, state: next, allocation } = this.fused.step(interfaceVector, state);
      if (!options.trace) return { reads, state: next };
      const xi = parseInterface(interfaceVector, this.layout);
      return { reads, state: next, trace: this.stepTrace(xi, next, allocation) };
    });
  }
}
