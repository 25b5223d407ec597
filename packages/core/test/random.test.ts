import { beforeAll, describe, expect, it } from 'vitest';
import { MannError, Rng, type RngState, selectBackend } from '@mann/core';

beforeAll(async () => {
  await selectBackend();
});

/** A mix of every kind of draw, so a stream difference anywhere shows. */
function draws(rng: Rng, n = 20): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(rng.uniform(), rng.int(-5, 5), rng.normal(), rng.bernoulli(0.3), rng.arcsine());
  }
  return out;
}

describe('Rng', () => {
  it('gives the same stream for the same seed', () => {
    expect(draws(new Rng(42))).toEqual(draws(new Rng(42)));
    expect(draws(new Rng(-7))).toEqual(draws(new Rng(-7)));
  });

  it('gives different streams for different seeds, including seeds that differ above bit 31', () => {
    const seeds = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 40];
    const first = seeds.map((s) => new Rng(s).uniform());
    expect(new Set(first).size).toBe(seeds.length);
  });

  it('uses every bit of the seed: 5 and 2246822510 (equal once folded to 32 bits) differ', () => {
    expect(new Rng(2246822510).getState()).not.toEqual(new Rng(5).getState());
    // seeds that agree in their low or high 32 bits, or in a 32-bit xor fold of the two
    const seeds: number[] = [];
    for (const high of [0, 1, 2, 0x85ebca6b, 2 ** 21 - 1, -1, -2, -(2 ** 21)])
      for (const low of [0, 1, 5, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 0x85ebca6b ^ 5])
        seeds.push(high * 2 ** 32 + low);
    const safe = seeds.filter((s) => Number.isSafeInteger(s));
    const states = new Set(safe.map((s) => JSON.stringify(new Rng(s).getState().state)));
    expect(states.size).toBe(new Set(safe).size);
  });

  it('keeps the streams of int32 seeds (earlier results stay reproducible)', () => {
    // The state splitmix32(5) gives, as recorded before larger seeds were mixed differently.
    expect(new Rng(5).getState().state).toEqual([-761470551, -568033849, 759973383, -1330690212]);
  });

  it('rejects a seed beyond the safe integers, naming it', () => {
    expect(() => new Rng(2 ** 60)).toThrow(
      'seed must be a safe integer (magnitude at most 2^53 - 1), got 1152921504606847000',
    );
  });

  it('spreads the first draws of small seeds over [0, 1) (the seed is mixed into the state)', () => {
    const first = Array.from({ length: 200 }, (_, seed) => new Rng(seed).uniform());
    const mean = first.reduce((a, b) => a + b, 0) / first.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.08);
    expect(first.filter((u) => u < 0.25).length).toBeGreaterThan(30);
    expect(first.filter((u) => u > 0.75).length).toBeGreaterThan(30);
    // consecutive seeds do not give nearly equal first draws
    const close = first.slice(1).filter((u, i) => Math.abs(u - (first[i] as number)) < 0.01);
    expect(close.length).toBeLessThan(10);
  });

  it('rejects a seed that is not an integer, naming it', () => {
    expect(() => new Rng(1.5)).toThrow(MannError);
    expect(() => new Rng(1.5)).toThrow('seed must be an integer, got 1.5');
    expect(() => new Rng(Number.NaN)).toThrow('seed must be an integer, got NaN');
  });

  it('continues exactly from getState / fromState, also through JSON', () => {
    const rng = new Rng(123);
    draws(rng, 7);
    const state = rng.getState();
    const restored = Rng.fromState(JSON.parse(JSON.stringify(state)) as RngState);
    expect(draws(restored, 30)).toEqual(draws(rng, 30));
    // getState is a snapshot: drawing more does not change it
    expect(rng.getState()).not.toEqual(state);
    expect(draws(Rng.fromState(state), 5)).toEqual(draws(Rng.fromState(state), 5));
  });

  it('fromState rejects anything that is not a saved state, naming the argument', () => {
    const good = new Rng(1).getState();
    const garbage: unknown[] = [
      null,
      42,
      'state',
      {},
      { ...good, algorithm: 'mt19937' },
      { ...good, state: 'abc' },
      { ...good, state: [1, 2, 3] },
      { ...good, state: [1, 2, 3, 4, 5] },
      { ...good, state: [1, 2, 3.5, 4] },
    ];
    for (const state of garbage) {
      expect(() => Rng.fromState(state as RngState), JSON.stringify(state)).toThrow(MannError);
      expect(() => Rng.fromState(state as RngState)).toThrow(/^state must be an RngState/);
    }
  });

  it('int covers [low, high] inclusively and roughly uniformly', () => {
    const rng = new Rng(9);
    const counts = new Array<number>(6).fill(0);
    const n = 12_000;
    for (let i = 0; i < n; i++) {
      const v = rng.int(1, 6);
      expect(Number.isInteger(v) && v >= 1 && v <= 6).toBe(true);
      counts[v - 1]! += 1;
    }
    // chi-square with 5 degrees of freedom: 20.5 is the 0.999 quantile
    const expected = n / 6;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(20.5);
    expect(new Rng(3).int(4, 4)).toBe(4);
    expect(() => rng.int(5, 2)).toThrow('int range must be integers with low <= high, got [5, 2]');
    expect(() => rng.int(0, 2.5)).toThrow(MannError);
  });

  it('uniform, normal, bernoulli and arcsine have the right ranges and moments', () => {
    const rng = new Rng(2024);
    const n = 20_000;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = (xs: number[]) => {
      const m = mean(xs);
      return mean(xs.map((x) => (x - m) ** 2));
    };
    const u = Array.from({ length: n }, () => rng.uniform());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(mean(u)).toBeCloseTo(0.5, 1);
    expect(variance(u)).toBeCloseTo(1 / 12, 2);
    const z = Array.from({ length: n }, () => rng.normal(2, 3));
    expect(Math.abs(mean(z) - 2)).toBeLessThan(0.1); // standard error 0.02
    expect(Math.abs(Math.sqrt(variance(z)) - 3)).toBeLessThan(0.1);
    const b = Array.from({ length: n }, () => rng.bernoulli(0.25));
    expect(new Set(b)).toEqual(new Set([0, 1]));
    expect(Math.abs(mean(b) - 0.25)).toBeLessThan(0.02);
    // Beta(1/2, 1/2): mean 1/2, variance 1/8
    const a = Array.from({ length: n }, () => rng.arcsine());
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    expect(Math.abs(mean(a) - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(variance(a) - 0.125)).toBeLessThan(0.01);
    const w = Array.from({ length: 1000 }, () => rng.uniformIn(-3, -1));
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-3);
    expect(Math.max(...w)).toBeLessThan(-1);
  });

  it('fork gives a deterministic generator independent of the parent', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    const forkA = a.fork();
    const forkB = b.fork();
    expect(draws(forkA)).toEqual(draws(forkB));
    expect(draws(a)).toEqual(draws(b));
    expect(draws(new Rng(5).fork(), 3)).not.toEqual(draws(new Rng(5), 3));
  });

  it('shuffle is a deterministic permutation; fill draws in order', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = new Rng(8).shuffle([...items]);
    expect([...shuffled].sort((x, y) => x - y)).toEqual(items);
    expect(shuffled).not.toEqual(items);
    expect(new Rng(8).shuffle([...items])).toEqual(shuffled);
    const rng = new Rng(4);
    const filled = new Rng(4).fill(5, (r) => r.uniform());
    expect(Array.from(filled)).toEqual(Array.from({ length: 5 }, () => Math.fround(rng.uniform())));
  });
});
