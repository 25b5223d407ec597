import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { invalidArgument } from './errors.js';

const GOLDEN = 0x9e3779b9 | 0;

/** splitmix32's output function: a bijection of the 32-bit integers that mixes every bit. */
function mix32(z: number): number {
  let t = z ^ (z >>> 16);
  t = Math.imul(t, 0x21f0aaad);
  t ^= t >>> 15;
  t = Math.imul(t, 0x735a2d97);
  return (t ^ (t >>> 15)) | 0;
}

/** splitmix32 (a 32-bit variant of Steele et al.'s SplitMix): a stream of well-mixed int32s. */
function splitmix32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + GOLDEN) | 0;
    return mix32(a);
  };
}

/**
 * The 128-bit xoroshiro state of a seed, one-to-one over all safe integers. A seed that fits in
 * an int32 gives the first four outputs of splitmix32(seed) (the streams of earlier versions).
 * A larger seed, as 64-bit two's complement (lo, hi), gives words 0 and 1 equal to
 * mix32(t + GOLDEN) and mix32(t + 2 GOLDEN + d), with t = lo ^ 0x85ebca6b and d = hi + 2^31
 * (never 0 for a safe integer): since mix32 is a bijection, the first two words determine t and
 * d, hence the seed, and d != 0 keeps them apart from every int32 seed's stream.
 */
function seedState(seed: number): number[] {
  if (seed === (seed | 0)) {
    const next = splitmix32(seed);
    return [next(), next(), next(), next()];
  }
  const lo = ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const hi = ((Math.floor(seed / 2 ** 32) % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const t = lo ^ 0x85ebca6b;
  const d = (hi + 2 ** 31) | 0;
  const w0 = mix32((t + GOLDEN) | 0);
  const w1 = mix32((t + 2 * GOLDEN + d) | 0);
  return [w0, w1, mix32(w0 ^ d), mix32((w1 + GOLDEN) | 0)];
}

/** The serialisable state of an {@link Rng}: plain numbers, safe to store in JSON. */
export interface RngState {
  readonly algorithm: 'xoroshiro128plus';
  readonly state: readonly number[];
}

/**
 * A seeded, deterministic random number generator for initialisation and data.
 *
 * Built on pure-rand's xoroshiro128+ (a well-tested generator whose state can be read and
 * restored), so that a checkpoint can store the exact position of the stream and a resumed run
 * draws the same numbers the uninterrupted run would have.
 */
export class Rng {
  private generator: ReturnType<typeof xoroshiro128plusFromState>;

  /**
   * @param seed - any safe integer (|seed| <= 2^53 - 1); the same seed always gives the same
   *   stream and different seeds different streams (every bit of the seed is used).
   */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) {
      throw invalidArgument('seed', seed, 'an integer');
    }
    if (!Number.isSafeInteger(seed)) {
      throw invalidArgument('seed', seed, 'a safe integer (magnitude at most 2^53 - 1)');
    }
    // The seed is mixed into the 128-bit state (see seedState): xoroshiro seeded directly from a
    // small integer starts with correlated draws (the first uniform is ~1 for every small seed),
    // which would bias every model's first parameters.
    this.generator = xoroshiro128plusFromState(seedState(seed));
  }

  /** Restores a generator from {@link Rng.getState}. */
  static fromState(state: RngState): Rng {
    if (
      state === null ||
      typeof state !== 'object' ||
      state.algorithm !== 'xoroshiro128plus' ||
      !Array.isArray(state.state) ||
      state.state.length !== 4 ||
      !state.state.every((x) => Number.isInteger(x))
    ) {
      throw invalidArgument('state', JSON.stringify(state), 'an RngState from Rng.getState()');
    }
    const rng = new Rng(0);
    rng.generator = xoroshiro128plusFromState(state.state);
    return rng;
  }

  /** A snapshot of the stream position; {@link Rng.fromState} continues from exactly here. */
  getState(): RngState {
    return { algorithm: 'xoroshiro128plus', state: [...this.generator.getState()] };
  }

  /** An independent generator seeded from this one (advances this stream by one draw). */
  fork(): Rng {
    return new Rng(this.generator.next());
  }

  /** Uniform float in [0, 1). */
  uniform(): number {
    return uniformFloat64(this.generator);
  }

  /** Uniform float in [low, high). */
  uniformIn(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Uniform integer in [low, high], both ends included. */
  int(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high < low) {
      throw invalidArgument('int range', `[${low}, ${high}]`, 'integers with low <= high');
    }
    return uniformInt(this.generator, low, high);
  }

  /** 1 with probability p, else 0. */
  bernoulli(p = 0.5): number {
    return this.uniform() < p ? 1 : 0;
  }

  /** Standard normal draw (Box-Muller; no value is cached, so state snapshots stay exact). */
  normal(mean = 0, std = 1): number {
    let u = this.uniform();
    while (u <= Number.MIN_VALUE) u = this.uniform();
    const v = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Beta(a, a) draw for a = 1/2 via the arcsine law: sin^2(pi U / 2). */
  arcsine(): number {
    const s = Math.sin((Math.PI * this.uniform()) / 2);
    return s * s;
  }

  /** Fills a new Float32Array with draws of `sample`. */
  fill(length: number, sample: (rng: Rng) => number): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = sample(this);
    return out;
  }

  /** Fisher-Yates shuffle, in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}
