import type { ModelConfig } from '@mann/core';
import type { PlaygroundSettings } from './protocol.js';

/**
 * The model configuration for the chosen settings. The memory models use feed-forward
 * controllers, as the quick benchmark suite does: the memory is then their only recurrence, and
 * they learn copy within a minute at these sizes.
 */
export function modelConfig(
  settings: PlaygroundSettings,
  inputSize: number,
  outputSize: number,
): ModelConfig {
  const { memorySlots, memoryWidth, hiddenSize } = settings;
  const controller = { kind: 'feedforward', hiddenSizes: [hiddenSize] };
  switch (settings.model) {
    case 'ntm':
      return { type: 'ntm', inputSize, outputSize, controller, memorySlots, memoryWidth };
    case 'dnc':
    case 'dnc-md': {
      const dnc = { type: 'dnc', inputSize, outputSize, controller, memorySlots, memoryWidth };
      // DNC-MD (Csordas & Schmidhuber 2019): masking, deallocation and link sharpness.
      const md = { masking: true, deallocation: true, linkSharpness: true };
      return { ...dnc, readHeads: 1, ...(settings.model === 'dnc-md' ? md : {}) };
    }
    case 'lstm':
      return { type: 'lstm', inputSize, outputSize, hiddenSizes: [hiddenSize] };
  }
}

/** Task parameters for the chosen difficulty. */
export function taskParams(settings: PlaygroundSettings): Record<string, number> {
  const d = settings.difficulty;
  switch (settings.task) {
    case 'copy':
      return { minLength: 1, maxLength: d };
    case 'repeat-copy':
      return {
        minLength: 1,
        maxLength: Math.max(1, Math.ceil(d / 2)),
        minRepeats: 1,
        maxRepeats: 3,
      };
    case 'associative-recall':
      return { minItems: 2, maxItems: Math.max(2, Math.min(d, 6)) };
    case 'priority-sort':
      return { vectors: Math.max(2, d), outputs: Math.max(1, Math.ceil(d * 0.8)) };
  }
}

/** Overrides that fix the task at its longest training sequence, for the memory pictures. */
export function longestParams(settings: PlaygroundSettings): Record<string, number> {
  const p = taskParams(settings);
  switch (settings.task) {
    case 'copy':
      return { minLength: p.maxLength!, maxLength: p.maxLength! };
    case 'repeat-copy':
      return { minLength: p.maxLength!, maxLength: p.maxLength!, minRepeats: 2, maxRepeats: 2 };
    case 'associative-recall':
      return { minItems: p.maxItems!, maxItems: p.maxItems! };
    case 'priority-sort':
      return {};
  }
}
