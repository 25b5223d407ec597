import type { InitialArrays, ParameterArrays } from '@mann/core/fused';
import type { NtmMemory } from '../memory.js';
import { softmax } from './head-addressing.js';

// The NTM's initial state on arrays, for training without TF.js (core's
// `sequenceLossAndGradients`, which the training threads use): what `NtmMemory.initialState` and
// `initialReads` compute with TF.js ops, M_0, w_0 of every head and r_0, broadcast over the
// batch, and the gradients of the parameters behind them. Sums over the batch and softmax in
// float64, rounded to float32 once (TF.js rounds each step: the two agree to float32 rounding).

/** Broadcasts `row` to `batch` consecutive copies. */
function repeat(row: Float32Array, batch: number): Float32Array {
  const out = new Float32Array(batch * row.length);
  for (let b = 0; b < batch; b++) out.set(row, b * row.length);
  return out;
}

/** The sum of `batch` consecutive rows of `size` values, in float64. */
function batchSum(values: Float32Array, batch: number, size: number): Float64Array {
  const sums = new Float64Array(size);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < size; i++) sums[i] = (sums[i] as number) + (values[b * size + i] as number);
  }
  return sums;
}

/**
 * The {@link InitialArrays} of `memory` for a batch of `batch`, from the parameters' values: the
 * state inputs `memory` [B, N, W], `readWeights` [B, R, N], `writeWeights` [B, Hw, N] and
 * `reads0` [B, R W] of core's whole-sequence op.
 */
export function ntmInitialArrays(
  memory: NtmMemory,
  batch: number,
  parameters: ParameterArrays,
): InitialArrays {
  const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = memory.config;
  const heads = r + hw;
  const { initialMemory, initialWeightLogits, initialReadBias } = memory;
  // M_0
  const memory0 = initialMemory
    ? repeat(parameters.value(initialMemory), batch)
    : new Float32Array(batch * n * w).fill(memory.config.memoryInitValue);
  // w_0 of every head, [R + Hw, N]: a softmax of each row of logits, or a constant
  const weights = new Float32Array(heads * n);
  if (initialWeightLogits) {
    const rows = Float64Array.from(parameters.value(initialWeightLogits));
    for (let h = 0; h < heads; h++) softmax(rows, h * n, rows, h * n, n);
    weights.set(rows);
  } else if (memory.config.initialWeighting === 'uniform') {
    weights.fill(1 / n);
  } else if (memory.config.initialWeighting === 'one-hot') {
    for (let h = 0; h < heads; h++) weights[h * n] = 1;
  } // 'zeros': zeros
  // r_0 = tanh(initialReadBias) or zeros
  const reads = new Float32Array(r * w);
  if (initialReadBias) {
    const bias = parameters.value(initialReadBias);
    for (let i = 0; i < r * w; i++) reads[i] = Math.tanh(bias[i] as number);
  }
  return {
    state: undefined,
    values: {
      memory: memory0,
      readWeights: repeat(weights.subarray(0, r * n), batch),
      writeWeights: repeat(weights.subarray(r * n), batch),
      reads0: repeat(reads, batch),
    },
    backward(gradients, into) {
      const grad = (name: string): Float32Array => {
        const found = gradients[name];
        if (!found) throw new Error(`NTM initial state on arrays: no gradient for '${name}'`);
        return found;
      };
      if (initialMemory && memory.config.memoryInit === 'learned') {
        const sums = batchSum(grad('memory'), batch, n * w);
        into.addGradient(initialMemory, Float32Array.from(sums));
      }
      if (initialWeightLogits) {
        // dL/dw_0 summed over the batch, read heads then write heads, through each row's softmax:
        // dL/dz_j = s_j (dL/ds_j - sum_k dL/ds_k s_k)
        const dWeights = new Float64Array(heads * n);
        dWeights.set(batchSum(grad('readWeights'), batch, r * n));
        dWeights.set(batchSum(grad('writeWeights'), batch, hw * n), r * n);
        const dLogits = new Float32Array(heads * n);
        for (let h = 0; h < heads; h++) {
          let dot = 0;
          for (let j = h * n; j < (h + 1) * n; j++) {
            dot += (dWeights[j] as number) * (weights[j] as number);
          }
          for (let j = h * n; j < (h + 1) * n; j++) {
            dLogits[j] = (weights[j] as number) * ((dWeights[j] as number) - dot);
          }
        }
        into.addGradient(initialWeightLogits, dLogits);
      }
      if (initialReadBias) {
        const sums = batchSum(grad('reads0'), batch, r * w);
        const dBias = new Float32Array(r * w);
        for (let i = 0; i < r * w; i++) {
          const t = reads[i] as number;
          dBias[i] = (sums[i] as number) * (1 - t * t);
        }
        into.addGradient(initialReadBias, dBias);
      }
    },
  };
}
