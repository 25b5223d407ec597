// A config whose memory cannot fit is rejected before training, naming the field, instead of
// dying in WebAssembly.Memory.grow() part-way.
import { describe, expect, it } from 'vitest';
import { checkMemoryFits, tensorMemoryLimit } from '../src/memory-estimate.js';
import { json, mann } from './cli-helpers.js';

const GiB = 2 ** 30;

describe('checkMemoryFits', () => {
  it('accepts what fits and rejects what does not, naming the field', () => {
    const ntm = { type: 'ntm', memorySlots: 128, memoryWidth: 20 };
    // 4 bytes x 3 x 16 x 41 x 2560 = 20 MB
    expect(() => checkMemoryFits(ntm, 16, 41, 21e6)).not.toThrow();
    expect(() => checkMemoryFits(ntm, 16, 41, 20e6)).toThrow(
      /^model\.memorySlots=128 does not fit: training needs about 0\.0188 GiB \(16 sequences x 41 steps x \(memory 128 x 20\) floats, kept for the gradient\), more than the 0\.0186 GiB available to tensors here; reduce model\.memorySlots$/,
    );
    expect(() =>
      checkMemoryFits({ type: 'ntm', memorySlots: 8, memoryWidth: 1e6 }, 16, 41, GiB),
    ).toThrow(/^model\.memoryWidth=1000000 does not fit/);
  });

  it("counts the DNC's N x N links unless they are sparse", () => {
    const dnc = { type: 'dnc', memorySlots: 4096, memoryWidth: 20 };
    expect(() => checkMemoryFits(dnc, 16, 41, 4 * GiB)).toThrow(
      /^model\.memorySlots=4096 does not fit: .*\(memory 4096 x 20 \+ links 4096 x 4096\)/,
    );
    expect(() => checkMemoryFits({ ...dnc, sparseLinks: true }, 16, 41, 4 * GiB)).not.toThrow();
  });

  it('skips configs without a memory (the LSTM); wasm tensors get at most 4 GiB', () => {
    expect(() => checkMemoryFits({ type: 'lstm', hiddenSizes: [1e6] }, 16, 41, 1)).not.toThrow();
    expect(tensorMemoryLimit('wasm')).toBeLessThanOrEqual(4 * GiB);
    expect(tensorMemoryLimit('cpu')).toBeGreaterThanOrEqual(tensorMemoryLimit('wasm'));
  });
});

describe('mann train with model.memorySlots=1e9', () => {
  it('is rejected before training, naming model.memorySlots', async () => {
    const result = await mann(
      'train',
      '--model',
      'ntm',
      '--task',
      'copy',
      '--set',
      'model.memorySlots=1e9',
      '--results',
      '/nonexistent/results',
      '--json',
    );
    expect(result.code).toBe(1);
    expect(json<{ error: string }>(result).error).toMatch(
      /^model\.memorySlots=1000000000 does not fit: training needs about \S+ GiB .*; reduce model\.memorySlots$/,
    );
  });
});
