import { argmax } from '../batch.js';

/** Labels are written in base 10, one one-hot group of 10 channels per digit. */
export const DIGIT_BASE = 10;

/** Input flag channels after the three triple fields: query phase, then answer phase. */
export const GRAPH_FLAG_CHANNELS = 2;

/**
 * A (source, edge, destination) triple of shown labels (node labels, edge or relation labels);
 * `null` leaves a field blank (all zeros).
 */
export interface Triple {
  readonly source: number | null;
  readonly edge: number | null;
  readonly destination: number | null;
}

/** Channels of one field: 10 per digit. */
export function fieldWidth(labelDigits: number): number {
  return DIGIT_BASE * labelDigits;
}

/** Channels of a triple: three fields. This is the graph tasks' output width. */
export function tripleWidth(labelDigits: number): number {
  return 3 * fieldWidth(labelDigits);
}

/**
 * Writes `triple` into `out[offset ..]` as three fields (source, edge, destination), each
 * `labelDigits` one-hot digit groups, most significant digit first: label 47 with 2 digits sets
 * channels 4 and 10 + 7 of its field. Blank fields are left as they are (zeros).
 */
export function encodeTriple(
  out: Float32Array,
  offset: number,
  triple: Triple,
  labelDigits: number,
): void {
  const fields = [triple.source, triple.edge, triple.destination];
  fields.forEach((value, f) => {
    if (value === null) return;
    let rest = value;
    for (let d = labelDigits - 1; d >= 0; d--) {
      const digit = rest % DIGIT_BASE;
      rest = Math.floor(rest / DIGIT_BASE);
      out[offset + f * fieldWidth(labelDigits) + d * DIGIT_BASE + digit] = 1;
    }
  });
}

/** Reads a triple back: in each digit group the channel with the largest value wins. */
export function decodeTriple(
  values: ArrayLike<number>,
  offset: number,
  labelDigits: number,
): Triple {
  const field = (f: number): number => {
    let value = 0;
    for (let d = 0; d < labelDigits; d++) {
      const start = offset + f * fieldWidth(labelDigits) + d * DIGIT_BASE;
      value = value * DIGIT_BASE + argmax(values, start, DIGIT_BASE);
    }
    return value;
  };
  return { source: field(0), edge: field(1), destination: field(2) };
}
