import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@mann/core';
import { createDncMemory, interfaceLayout, interfaceSize, parseInterface } from '@mann/dnc';
import { onBothBackends, rngFor, uniform } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const base = { masking: false, linkSharpness: false };

describe('interface vector', () => {
  it('has R W + 3 W + 5 R + 3 units for one write head (SPEC section 3)', () => {
    for (const [w, r] of [
      [20, 4],
      [8, 1],
      [3, 7],
    ] as const) {
      expect(
        interfaceSize(interfaceLayout({ ...base, memoryWidth: w, readHeads: r, writeHeads: 1 })),
      ).toBe(r * w + 3 * w + 5 * r + 3);
    }
  });

  it('grows by Hw (3 W + 3) + 2 R per extra write head... and by the DNC-MD options', () => {
    const [w, r, hw] = [6, 3, 2];
    const plain = r * w + r + hw * (3 * w + 3) + r + r * (1 + 2 * hw);
    expect(
      interfaceSize(interfaceLayout({ ...base, memoryWidth: w, readHeads: r, writeHeads: hw })),
    ).toBe(plain);
    expect(
      interfaceSize(
        interfaceLayout({
          memoryWidth: w,
          readHeads: r,
          writeHeads: hw,
          masking: true,
          linkSharpness: false,
        }),
      ),
    ).toBe(plain + (r + hw) * w);
    expect(
      interfaceSize(
        interfaceLayout({
          memoryWidth: w,
          readHeads: r,
          writeHeads: hw,
          masking: false,
          linkSharpness: true,
        }),
      ),
    ).toBe(plain + 2 * r);
    expect(
      createDncMemory({
        memoryWidth: w,
        readHeads: r,
        writeHeads: hw,
        masking: true,
        linkSharpness: true,
      }).interfaceSize,
    ).toBe(plain + (r + hw) * w + 2 * r);
  });

  it('splits into fields of the documented shapes and ranges', async () => {
    const config = {
      memoryWidth: 4,
      readHeads: 3,
      writeHeads: 2,
      masking: true,
      linkSharpness: true,
    };
    const layout = interfaceLayout(config);
    const size = interfaceSize(layout);
    const values = uniform(rngFor(61), 2 * size, -5, 5);
    const names = layout.map((f) => f.name);
    const out = await onBothBackends(() => {
      const parsed = parseInterface(tf.tensor2d(values, [2, size]), layout);
      return names.map((n) => parsed[n] as tf.Tensor);
    });
    const shapes: Record<string, number[]> = {};
    tf.tidy(() => {
      const parsed = parseInterface(tf.tensor2d(values, [2, size]), layout);
      for (const n of names) shapes[n] = (parsed[n] as tf.Tensor).shape;
    });
    expect(shapes).toEqual({
      readKeys: [2, 3, 4],
      readStrengths: [2, 3],
      writeKeys: [2, 2, 4],
      writeStrengths: [2, 2],
      eraseVectors: [2, 2, 4],
      writeVectors: [2, 2, 4],
      freeGates: [2, 3],
      allocationGates: [2, 2],
      writeGates: [2, 2],
      readModes: [2, 3, 5],
      readMasks: [2, 3, 4],
      writeMasks: [2, 2, 4],
      linkSharpness: [2, 3, 2],
    });
    const byName = Object.fromEntries(names.map((n, i) => [n, Array.from(out[i] as Float32Array)]));
    for (const n of [
      'eraseVectors',
      'freeGates',
      'allocationGates',
      'writeGates',
      'readMasks',
      'writeMasks',
    ]) {
      expect(
        byName[n]?.every((x) => x > 0 && x < 1),
        n,
      ).toBe(true);
    }
    for (const n of ['readStrengths', 'writeStrengths', 'linkSharpness'])
      expect(
        byName[n]?.every((x) => x >= 1),
        n,
      ).toBe(true);
    const modes = byName.readModes as number[];
    for (let i = 0; i < modes.length; i += 5)
      expect(modes.slice(i, i + 5).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    // Keys and write vectors pass through unchanged: the read keys are the first R W units.
    expect(byName.readKeys?.slice(0, 12)).toEqual(Array.from(values.slice(0, 12)));
  });
});
