/** Summary statistics over seeds. */

/** A value measured on several seeds. */
export interface Spread {
  readonly mean: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 for one seed. */
  readonly sd: number;
  readonly min: number;
  readonly max: number;
  /** Number of seeds. */
  readonly n: number;
}

/** Mean, standard deviation, min and max of `values`; `null` when there are none. */
export function spreadOf(values: readonly number[]): Spread | null {
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((sum, v) => sum + v, 0) / n;
  const squares = values.reduce((sum, v) => sum + (v - mean) ** 2, 0);
  return {
    mean,
    sd: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
    min: Math.min(...values),
    max: Math.max(...values),
    n,
  };
}

/** Median of `values` (mean of the middle two for an even count); `null` when there are none. */
export function medianOf(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
