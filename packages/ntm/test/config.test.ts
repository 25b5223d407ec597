import { describe, expect, it } from 'vitest';
import { DEFAULT_CLIP_VALUE, MannError } from '@mann/core';
import { DEFAULT_NTM_MEMORY_CONFIG, resolveNtmConfig, resolveNtmMemoryConfig } from '@mann/ntm';

describe('NTM config', () => {
  it("defaults to the paper's copy configuration", () => {
    const config = resolveNtmConfig({ inputSize: 9, outputSize: 8 });
    expect(config).toEqual({
      type: 'ntm',
      inputSize: 9,
      outputSize: 8,
      controller: { kind: 'lstm', hiddenSizes: [100], activation: 'tanh', init: 'glorot' },
      clipValue: DEFAULT_CLIP_VALUE,
      memorySlots: 128,
      memoryWidth: 20,
      readHeads: 1,
      writeHeads: 1,
      shiftRange: 1,
      keyActivation: 'none',
      strengthActivation: 'softplus',
      memoryInit: 'constant',
      memoryInitValue: 1e-6,
      initialWeighting: 'learned',
      initialReads: 'learned',
      traceAddressing: false,
      implementation: 'fused',
    });
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
  });

  it("fills the controller's defaults under a partial controller", () => {
    const config = resolveNtmConfig({
      inputSize: 3,
      outputSize: 2,
      controller: { kind: 'feedforward' },
    });
    expect(config.controller).toEqual({
      kind: 'feedforward',
      hiddenSizes: [100],
      activation: 'tanh',
      init: 'glorot',
    });
  });

  it('rejects unknown options, listing the valid ones', () => {
    expect(() => resolveNtmConfig({ inputSize: 3, outputSize: 2, memorySize: 5 } as never)).toThrow(
      /unknown ntm config option 'memorySize'; valid options: .*memorySlots/,
    );
    expect(() => resolveNtmMemoryConfig({ slots: 4 } as never)).toThrow(
      /unknown ntm memory config option 'slots'/,
    );
  });

  it('names the offending field and value', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ memorySlots: 0 }, /memorySlots must be an integer >= 1, got 0/],
      [{ memoryWidth: 2.5 }, /memoryWidth must be an integer >= 1, got 2.5/],
      [{ readHeads: 0 }, /readHeads must be an integer >= 1, got 0/],
      [{ writeHeads: -1 }, /writeHeads must be an integer >= 0, got -1/],
      [{ shiftRange: -1 }, /shiftRange must be an integer >= 0, got -1/],
      [
        { memorySlots: 4, shiftRange: 2 },
        /shiftRange must satisfy 2 \* shiftRange \+ 1 <= memorySlots \(4\), got 2/,
      ],
      [{ keyActivation: 'relu' }, /keyActivation must be one of none, tanh, got relu/],
      [
        { strengthActivation: 'exp' },
        /strengthActivation must be one of softplus, oneplus, got exp/,
      ],
      [{ memoryInit: 'zeros' }, /memoryInit must be one of constant, learned, random, got zeros/],
      [{ memoryInitValue: Number.NaN }, /memoryInitValue must be a finite number/],
      [
        { initialWeighting: 'first' },
        /initialWeighting must be one of learned, uniform, one-hot, zeros, got first/,
      ],
      [{ initialReads: 'random' }, /initialReads must be one of learned, zeros, got random/],
      [{ traceAddressing: 'yes' }, /traceAddressing must be true or false, got yes/],
      [{ implementation: 'fast' }, /implementation must be one of fused, composed, got fast/],
      [
        { fused: true },
        /ntm config: the option 'fused' \(got true\) was renamed; use implementation/,
      ],
      [{ clipValue: -1 }, /clipValue must be a finite number in \[0, Infinity\], got -1/],
      [
        { controller: { kind: 'gru' } },
        /controller.kind must be one of lstm, feedforward, got gru/,
      ],
      [{ inputSize: 0 }, /inputSize must be an integer >= 1, got 0/],
    ];
    for (const [options, message] of bad) {
      expect(() => resolveNtmConfig({ inputSize: 3, outputSize: 2, ...options } as never)).toThrow(
        MannError,
      );
      expect(() => resolveNtmConfig({ inputSize: 3, outputSize: 2, ...options } as never)).toThrow(
        message,
      );
    }
  });

  it('resolves the memory options alone for the generic memory network', () => {
    expect(resolveNtmMemoryConfig({})).toEqual(DEFAULT_NTM_MEMORY_CONFIG);
    expect(resolveNtmMemoryConfig({ readHeads: 2 }).readHeads).toBe(2);
    expect(() => resolveNtmMemoryConfig({ fused: false } as never)).toThrow(
      "ntm memory config: the option 'fused' (got false) was renamed",
    );
  });
});
