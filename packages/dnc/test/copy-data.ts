import type { Rng, SequenceBatch } from '@mann/core';

/**
 * A small copy-task generator for the tests (SPEC section 4): L ~ U{minLength..maxLength}
 * random vectors of `bits` fair bits, a delimiter on channel `bits`, then L blank steps whose
 * targets are the vectors. Inputs [B, T, bits + 1], targets [B, T, bits], mask [B, T] with
 * T = 2 * (longest L) + 1.
 */
export function copyBatch(
  rng: Rng,
  batchSize: number,
  bits: number,
  minLength: number,
  maxLength: number,
): SequenceBatch {
  const lengths = Array.from({ length: batchSize }, () => rng.int(minLength, maxLength));
  const steps = 2 * Math.max(...lengths) + 1;
  const inputWidth = bits + 1;
  const inputs = new Float32Array(batchSize * steps * inputWidth);
  const targets = new Float32Array(batchSize * steps * bits);
  const mask = new Float32Array(batchSize * steps);
  lengths.forEach((length, b) => {
    for (let i = 0; i < length; i++) {
      for (let c = 0; c < bits; c++) {
        const bit = rng.bernoulli(0.5);
        inputs[(b * steps + i) * inputWidth + c] = bit;
        targets[(b * steps + length + 1 + i) * bits + c] = bit;
      }
      mask[b * steps + length + 1 + i] = 1;
    }
    inputs[(b * steps + length) * inputWidth + bits] = 1;
  });
  return { batchSize, steps, inputWidth, outputWidth: bits, inputs, targets, mask };
}
