import type * as tf from '@tensorflow/tfjs';
import { tidy } from '@mann/core';
import type { ParameterScope } from '@mann/core';
import type { NtmMemoryConfig } from '../config.js';
import { NtmMemory } from '../memory.js';
import type { NtmState, NtmStepOptions, NtmStepResult } from '../memory.js';
import { memoryStepSpec } from './memory-step.js';
import { createFusedStepOp } from './step-op.js';
import type { FusedStepOp } from './step-op.js';

/**
 * The NTM memory with `implementation: 'fused'`: the reference's parameters and initial state,
 * and a step that is one op (`step-op.ts`) with the reference's values and gradients. A step
 * that traces the addressing internals takes the reference's ops, which expose them.
 */
export class FusedNtmMemory extends NtmMemory {
  private readonly fusedStep: FusedStepOp;

  constructor(config: NtmMemoryConfig, scope: ParameterScope) {
    super(config, scope);
    this.fusedStep = createFusedStepOp(memoryStepSpec(config));
  }

  override step(
    interfaceVector: tf.Tensor2D,
    state: NtmState,
    options: NtmStepOptions = {},
  ): NtmStepResult {
    if (this.tracesAddressing(options)) return super.step(interfaceVector, state, options);
    this.checkStep(interfaceVector, state);
    return tidy(() => {
      const [reads, memory, readWeights, writeWeights] = this.fusedStep(
        interfaceVector,
        state.memory,
        state.readWeights,
        state.writeWeights,
      );
      const next: NtmState = { memory, readWeights, writeWeights };
      if (!options.trace) return { reads, state: next };
      return { reads, state: next, trace: { readWeights, writeWeights } };
    });
  }
}
