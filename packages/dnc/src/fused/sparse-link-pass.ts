import type { FusedStepSpec } from './spec.js';
import type { LinkArrays } from './link-pass.js';
import type { LinkBackward, LinkPass } from './link-pass.js';
import { freshArrays } from '@mann/core/fused';

// Sparse temporal links in the fused step: `updateSparseLink` and `sparseDirectionalWeights`
// for one example and write head at a time, forward and backward, O(N K R + K^3) with a
// partial selection for the K largest entries. Each row i of the link stores K (column, value)
// pairs, values[i * K + k] at column columns[i * K + k]. ŵ and p̂ are w^w_t and p_{t-1} with
// all but their K largest entries set to 0; see `updateSparseLink` for the update.

/**
 * Indices of the `k` largest of values[from .. from + n), largest first, ties by lower index
 * (as `tf.topk`), into `out[0 .. k)`.
 */
export function largestIndices(
  values: ArrayLike<number>,
  from: number,
  n: number,
  k: number,
  out: Int32Array,
): void {
  if (k * 8 >= n) {
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => (values[from + b] as number) - (values[from + a] as number) || a - b);
    for (let j = 0; j < k; j++) out[j] = order[j] as number;
    return;
  }
  // insertion into a sorted list of the best k so far (index order breaks ties: an equal
  // later value never displaces an earlier one)
  let size = 0;
  for (let i = 0; i < n; i++) {
    const v = values[from + i] as number;
    if (size === k && v <= (values[from + (out[k - 1] as number)] as number)) continue;
    let j = size < k ? size++ : k - 1;
    while (j > 0 && v > (values[from + (out[j - 1] as number)] as number)) {
      out[j] = out[j - 1] as number;
      j--;
    }
    out[j] = i;
  }
}

/** The all-zero sparse link: row i stores columns i+1, ..., i+K (mod N) with value 0. */
export function initialSparseLinkArrays(
  batch: number,
  heads: number,
  n: number,
  capacity: number,
): LinkArrays {
  const columns = new Int32Array(batch * heads * n * capacity);
  for (let row = 0; row < batch * heads * n; row++) {
    const i = row % n;
    for (let k = 0; k < capacity; k++) columns[row * capacity + k] = (i + 1 + k) % n;
  }
  return { values: new Float32Array(columns.length), columns };
}

/** What the backward pass needs per example and head: the selections of the forward pass. */
interface SparseTape {
  /** The K rows ŵ writes (largest w^w first), [B, H, K] */
  readonly rows: Int32Array;
  /** The K columns of p̂ (largest p_{t-1} first), [B, H, K] */
  readonly columns: Int32Array;
  /** For each written row, which of its K' + K candidates it keeps, [B, H, K, K'] */
  readonly keep: Int32Array;
}

/** Sparse links [B, H, N, K] with K = `spec.sparseCapacity`. */
export function sparseLinkPass(spec: FusedStepSpec): LinkPass {
  const { slots: n, readHeads: r, writeHeads: h, sparseCapacity: cap } = spec;
  const top = cap; // min(K, N) entries of w^w and p_{t-1} kept, as many as a row stores
  const rowSize = n * cap;
  const candidates = new Float64Array(cap + top);
  const scores = new Float64Array(cap + top);
  const isNew = new Uint8Array(top);
  const chosen = new Int32Array(cap);
  const hat = new Float64Array(n); // ŵ

  /** Example b, head `head`: the offsets of its arrays. */
  const base = (b: number, head: number) => ({
    link: (b * h + head) * rowSize,
    tape: (b * h + head) * top,
    keep: (b * h + head) * top * cap,
  });

  return {
    allocate: (batch, arrays = freshArrays) => ({
      values: arrays.floats(batch * h * rowSize),
      columns: arrays.ints(batch * h * rowSize),
    }),
    beginForward(batch): SparseTape {
      return {
        rows: new Int32Array(batch * h * top),
        columns: new Int32Array(batch * h * top),
        keep: new Int32Array(batch * h * top * cap),
      };
    },
    forward(tapeState, b, { prev, next, writes, prevPrecedence, prevReads, forward, backward }) {
      const tape = tapeState as SparseTape;
      const prevColumns = prev.columns as Int32Array;
      const nextColumns = next.columns as Int32Array;
      for (let head = 0; head < h; head++) {
        const at = base(b, head);
        const w = head * n;
        const rows = tape.rows.subarray(at.tape, at.tape + top);
        const pColumns = tape.columns.subarray(at.tape, at.tape + top);
        largestIndices(writes, w, n, top, rows);
        largestIndices(prevPrecedence, w, n, top, pColumns);
        hat.fill(0);
        for (let j = 0; j < top; j++)
          hat[rows[j] as number] = writes[w + (rows[j] as number)] as number;
        // every stored entry decays: (1 - ŵ[i] - ŵ[j]) L[i, j]
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < cap; k++) {
            const e = at.link + i * cap + k;
            const column = prevColumns[e] as number;
            next.values[e] =
              (1 - (hat[i] as number) - (hat[column] as number)) * (prev.values[e] as number);
            nextColumns[e] = column;
          }
        }
        // the written rows gain ŵ[i] p̂[j] and keep their K largest entries
        for (let j = 0; j < top; j++) {
          const row = rows[j] as number;
          const weight = writes[w + row] as number;
          const start = at.link + row * cap;
          for (let k = 0; k < cap; k++) candidates[k] = next.values[start + k] as number;
          for (let q = 0; q < top; q++) {
            const column = pColumns[q] as number;
            const added = column === row ? 0 : weight * (prevPrecedence[w + column] as number);
            let stored = -1;
            for (let k = 0; k < cap; k++)
              if ((nextColumns[start + k] as number) === column) stored = k;
            if (stored >= 0) candidates[stored] = (candidates[stored] as number) + added;
            isNew[q] = stored < 0 ? 1 : 0;
            candidates[cap + q] = stored < 0 ? added : 0;
          }
          // added entries merged into a stored one may not come back (columns stay distinct)
          for (let k = 0; k < cap; k++) scores[k] = candidates[k] as number;
          for (let q = 0; q < top; q++)
            scores[cap + q] = (candidates[cap + q] as number) - 2 * (1 - (isNew[q] as number));
          largestIndices(scores, 0, cap + top, cap, chosen);
          const keep = tape.keep.subarray(at.keep + j * cap, at.keep + (j + 1) * cap);
          const columnsBefore = nextColumns.slice(start, start + cap);
          for (let k = 0; k < cap; k++) {
            const c = chosen[k] as number;
            keep[k] = c;
            next.values[start + k] = candidates[c] as number;
            nextColumns[start + k] =
              c < cap ? (columnsBefore[c] as number) : (pColumns[c - cap] as number);
          }
        }
        // f = L w^r gathers w^r at the stored columns, b = L^T w^r scatters into them
        const f = forward.subarray(head * r * n, (head + 1) * r * n);
        const bw = backward.subarray(head * r * n, (head + 1) * r * n);
        bw.fill(0);
        for (let q = 0; q < r; q++) {
          for (let i = 0; i < n; i++) {
            const vi = prevReads[q * n + i] as number;
            let sum = 0;
            for (let k = 0; k < cap; k++) {
              const e = at.link + i * cap + k;
              const column = nextColumns[e] as number;
              const value = next.values[e] as number;
              sum += value * (prevReads[q * n + column] as number);
              bw[q * n + column] = (bw[q * n + column] as number) + value * vi;
            }
            f[q * n + i] = sum;
          }
        }
      }
    },
    beginBackward(tape, _batch, prev, next, dNext) {
      return { dPrev: new Float32Array(prev.values.length), tape, prev, next, dNext };
    },
    backward(
      state: LinkBackward,
      b,
      {
        writes,
        prevPrecedence,
        prevReads,
        dForward,
        dBackward,
        dWrites,
        dPrevPrecedence,
        dPrevReads,
      },
    ) {
      const tape = state.tape as SparseTape;
      const { prev, next } = state;
      const prevColumns = prev.columns as Int32Array;
      const nextColumns = next.columns as Int32Array;
      const dValues = new Float64Array(rowSize); // dL/d(next values) of this example and head
      const dDecayed = new Float64Array(rowSize);
      const dHat = new Float64Array(n);
      const dCandidates = new Float64Array(cap + top);
      for (let head = 0; head < h; head++) {
        const at = base(b, head);
        const w = head * n;
        const rows = tape.rows.subarray(at.tape, at.tape + top);
        const pColumns = tape.columns.subarray(at.tape, at.tape + top);
        hat.fill(0);
        for (let j = 0; j < top; j++)
          hat[rows[j] as number] = writes[w + (rows[j] as number)] as number;
        for (let e = 0; e < rowSize; e++)
          dValues[e] = state.dNext ? (state.dNext[at.link + e] as number) : 0;
        // through f and b
        const df = dForward.subarray(head * r * n, (head + 1) * r * n);
        const db = dBackward.subarray(head * r * n, (head + 1) * r * n);
        for (let q = 0; q < r; q++) {
          for (let i = 0; i < n; i++) {
            const vi = prevReads[q * n + i] as number;
            const dfi = df[q * n + i] as number;
            let dvi = 0;
            for (let k = 0; k < cap; k++) {
              const e = i * cap + k;
              const column = nextColumns[at.link + e] as number;
              const value = next.values[at.link + e] as number;
              dValues[e] =
                (dValues[e] as number) +
                dfi * (prevReads[q * n + column] as number) +
                (db[q * n + column] as number) * vi;
              dPrevReads[q * n + column] = (dPrevReads[q * n + column] as number) + dfi * value;
              dvi += (db[q * n + column] as number) * value;
            }
            dPrevReads[q * n + i] = (dPrevReads[q * n + i] as number) + dvi;
          }
        }
        // unwritten rows kept their decayed entries; written rows chose among candidates
        dDecayed.set(dValues);
        dHat.fill(0);
        for (let j = 0; j < top; j++) {
          const row = rows[j] as number;
          const weight = writes[w + row] as number;
          const start = row * cap;
          const keep = tape.keep.subarray(at.keep + j * cap, at.keep + (j + 1) * cap);
          dCandidates.fill(0);
          for (let k = 0; k < cap; k++)
            dCandidates[keep[k] as number] = dValues[start + k] as number;
          let dWeight = 0;
          for (let q = 0; q < top; q++) {
            const column = pColumns[q] as number;
            let stored = -1;
            for (let k = 0; k < cap; k++)
              if ((prevColumns[at.link + start + k] as number) === column) stored = k;
            // added = ŵ[row] p̂[column] (0 on the diagonal), summed into its stored entry or new
            const dAdded =
              stored >= 0 ? (dCandidates[stored] as number) : (dCandidates[cap + q] as number);
            if (column === row) continue;
            const p = prevPrecedence[w + column] as number;
            dWeight += dAdded * p;
            dPrevPrecedence[w + column] = (dPrevPrecedence[w + column] as number) + dAdded * weight;
          }
          for (let k = 0; k < cap; k++) dDecayed[start + k] = dCandidates[k] as number;
          dWrites[w + row] = (dWrites[w + row] as number) + dWeight;
        }
        // decayed = (1 - ŵ[i] - ŵ[column]) L_{t-1}[i, column]
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < cap; k++) {
            const e = i * cap + k;
            const column = prevColumns[at.link + e] as number;
            const old = prev.values[at.link + e] as number;
            const d = dDecayed[e] as number;
            state.dPrev[at.link + e] = d * (1 - (hat[i] as number) - (hat[column] as number));
            dHat[i] = (dHat[i] as number) - d * old;
            dHat[column] = (dHat[column] as number) - d * old;
          }
        }
        // ŵ is w^w at the K rows and 0 elsewhere
        for (let j = 0; j < top; j++) {
          const row = rows[j] as number;
          dWrites[w + row] = (dWrites[w + row] as number) + (dHat[row] as number);
        }
      }
    },
    endBackward: () => undefined,
  };
}
