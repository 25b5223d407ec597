// Slow, loop-based reference implementations of the DNC equations (SPEC section 3), written
// independently of the tensor code, one example at a time (no batch axis).

export type Vector = number[];
export type Matrix = number[][];

const EPS = 1e-6;

/** psi[i] = prod_r (1 - f[r] w^r[r][i]). */
export function retentionOracle(freeGates: Vector, readWeights: Matrix): Vector {
  const slots = (readWeights[0] as Vector).length;
  return Array.from({ length: slots }, (_, i) =>
    readWeights.reduce((acc, w, r) => acc * (1 - (freeGates[r] as number) * (w[i] as number)), 1),
  );
}

/** u_t = (u + w - u w) psi with w = 1 - prod_h (1 - w_h). */
export function usageOracle(
  usage: Vector,
  writeWeights: Matrix,
  freeGates: Vector,
  readWeights: Matrix,
): Vector {
  const psi = retentionOracle(freeGates, readWeights);
  return usage.map((u, i) => {
    const w = 1 - writeWeights.reduce((acc, wh) => acc * (1 - (wh[i] as number)), 1);
    return (u + w - u * w) * (psi[i] as number);
  });
}

/** a[phi_j] = (1 - u'[phi_j]) prod_{i<j} u'[phi_i], phi = stable ascending sort of u'. */
export function allocationOracle(usage: Vector): Vector {
  const shifted = usage.map((u) => EPS + (1 - EPS) * u);
  const order = shifted.map((u, i) => ({ u, i })).sort((a, b) => a.u - b.u || a.i - b.i);
  const out = new Array<number>(usage.length).fill(0);
  let product = 1;
  for (const { u, i } of order) {
    out[i] = (1 - u) * product;
    product *= u;
  }
  return out;
}

/** deepmind/dnc's loop over write heads: u <- u + (1 - u) g_h a_h. */
export function writeAllocationsOracle(usage: Vector, gates: Vector): Matrix {
  let u = usage.slice();
  return gates.map((g) => {
    const a = allocationOracle(u);
    u = u.map((x, i) => x + (1 - x) * g * (a[i] as number));
    return a;
  });
}

/** p_t = (1 - sum w) p + w, per write head. */
export function precedenceOracle(precedence: Matrix, writeWeights: Matrix): Matrix {
  return precedence.map((p, h) => {
    const w = writeWeights[h] as Vector;
    const total = w.reduce((a, b) => a + b, 0);
    return p.map((x, i) => (1 - total) * x + (w[i] as number));
  });
}

/** L_t[i][j] = (1 - w[i] - w[j]) L[i][j] + w[i] p_{t-1}[j], 0 on the diagonal, per write head. */
export function linkOracle(link: Matrix[], precedence: Matrix, writeWeights: Matrix): Matrix[] {
  return link.map((l, h) => {
    const w = writeWeights[h] as Vector;
    const p = precedence[h] as Vector;
    return l.map((row, i) =>
      row.map((x, j) =>
        i === j
          ? 0
          : (1 - (w[i] as number) - (w[j] as number)) * x + (w[i] as number) * (p[j] as number),
      ),
    );
  });
}

/** [R][Hw][N]: forward f = L w, backward b = L^T w. */
export function directionalOracle(link: Matrix[], readWeights: Matrix, forward: boolean): Matrix[] {
  return readWeights.map((w) =>
    link.map((l) =>
      w.map((_, i) =>
        w.reduce(
          (acc, wj, j) =>
            acc +
            (forward ? ((l[i] as Vector)[j] as number) : ((l[j] as Vector)[i] as number)) * wj,
          0,
        ),
      ),
    ),
  );
}

/** S(d, s)[i] = ((d[i] + eps) / max(d + eps))^s, normalised. */
export function sharpenOracle(d: Vector, s: number): Vector {
  const top = Math.max(...d.map((x) => x + EPS));
  const powered = d.map((x) => ((x + EPS) / top) ** s);
  const sum = powered.reduce((a, b) => a + b, 0);
  return powered.map((x) => x / sum);
}

/** softmax_i(beta cos(k * m, M[i] * m)) with SPEC's norms. */
export function contentOracle(memory: Matrix, key: Vector, beta: number, mask?: Vector): Vector {
  const m = mask ?? key.map(() => 1);
  const norm = (v: Vector): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0) + EPS);
  const k = key.map((x, w) => x * (m[w] as number));
  const scores = memory.map((row) => {
    const r = row.map((x, w) => x * (m[w] as number));
    const dot = r.reduce((a, x, w) => a + x * (k[w] as number), 0);
    return (beta * dot) / (norm(k) * norm(r) + EPS);
  });
  const top = Math.max(...scores);
  const exps = scores.map((s) => Math.exp(s - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** State of {@link dncStepOracle}, one example. */
export interface OracleState {
  memory: Matrix; // [N][W]
  usage: Vector; // [N]
  link: Matrix[]; // [Hw][N][N]
  precedence: Matrix; // [Hw][N]
  readWeights: Matrix; // [R][N]
  writeWeights: Matrix; // [Hw][N]
}

/** Options of {@link dncStepOracle}. */
export interface OracleOptions {
  readHeads: number;
  writeHeads: number;
  width: number;
  masking?: boolean;
  deallocation?: boolean;
  linkSharpness?: boolean;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const oneplus = (x: number): number => 1 + Math.log1p(Math.exp(x));

/**
 * One whole DNC step, written out from SPEC section 3 with the interface order of deepmind/dnc
 * (read keys, read strengths, write keys, write strengths, erase, write vectors, free gates,
 * allocation gates, write gates), then read masks, write masks, link sharpness, and the read
 * modes last.
 */
export function dncStepOracle(
  xi: Vector,
  s: OracleState,
  o: OracleOptions,
): { reads: Matrix; state: OracleState } {
  const { readHeads: R, writeHeads: Hw, width: W } = o;
  let at = 0;
  const take = (n: number, f: (x: number) => number = (x) => x): Vector => {
    const out = xi.slice(at, at + n).map(f);
    at += n;
    return out;
  };
  const rows = (v: Vector, n: number): Matrix =>
    Array.from({ length: v.length / n }, (_, i) => v.slice(i * n, (i + 1) * n));
  const readKeys = rows(take(R * W), W);
  const readStrengths = take(R, oneplus);
  const writeKeys = rows(take(Hw * W), W);
  const writeStrengths = take(Hw, oneplus);
  const erase = rows(take(Hw * W, sigmoid), W);
  const writeVectors = rows(take(Hw * W), W);
  const freeGates = take(R, sigmoid);
  const allocationGates = take(Hw, sigmoid);
  const writeGates = take(Hw, sigmoid);
  const readMasks = o.masking ? rows(take(R * W, sigmoid), W) : undefined;
  const writeMasks = o.masking ? rows(take(Hw * W, sigmoid), W) : undefined;
  const sharpness = o.linkSharpness ? rows(take(2 * R, oneplus), 2) : undefined;
  const modes = rows(take(R * (1 + 2 * Hw)), 1 + 2 * Hw).map((logits) => {
    const top = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - top));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
  });
  if (at !== xi.length) throw new Error(`oracle consumed ${at} of ${xi.length} interface units`);

  const psi = retentionOracle(freeGates, s.readWeights);
  const usage = usageOracle(s.usage, s.writeWeights, freeGates, s.readWeights);
  const allocation = writeAllocationsOracle(
    usage,
    allocationGates.map((g, h) => g * (writeGates[h] as number)),
  );
  const writeWeights = allocation.map((a, h) => {
    const c = contentOracle(
      s.memory,
      writeKeys[h] as Vector,
      writeStrengths[h] as number,
      writeMasks?.[h],
    );
    const ga = allocationGates[h] as number;
    return a.map((x, i) => (writeGates[h] as number) * (ga * x + (1 - ga) * (c[i] as number)));
  });
  const memory = s.memory.map((row, i) =>
    row.map((x, w) => {
      let keep = o.deallocation ? (psi[i] as number) : 1;
      for (let h = 0; h < Hw; h++)
        keep *=
          1 - ((writeWeights[h] as Vector)[i] as number) * ((erase[h] as Vector)[w] as number);
      let add = 0;
      for (let h = 0; h < Hw; h++)
        add +=
          ((writeWeights[h] as Vector)[i] as number) * ((writeVectors[h] as Vector)[w] as number);
      return x * keep + add;
    }),
  );
  const link = linkOracle(s.link, s.precedence, writeWeights);
  const precedence = precedenceOracle(s.precedence, writeWeights);
  let backward = directionalOracle(link, s.readWeights, false);
  let forward = directionalOracle(link, s.readWeights, true);
  if (sharpness) {
    backward = backward.map((perHead, r) =>
      perHead.map((d) => sharpenOracle(d, (sharpness[r] as Vector)[0] as number)),
    );
    forward = forward.map((perHead, r) =>
      perHead.map((d) => sharpenOracle(d, (sharpness[r] as Vector)[1] as number)),
    );
  }
  const readWeights = readKeys.map((key, r) => {
    const c = contentOracle(memory, key, readStrengths[r] as number, readMasks?.[r]);
    const pi = modes[r] as Vector;
    return c.map((ci, i) => {
      let w = (pi[Hw] as number) * ci;
      for (let h = 0; h < Hw; h++) {
        w += (pi[h] as number) * ((backward[r] as Matrix)[h] as Vector)[i]!;
        w += (pi[Hw + 1 + h] as number) * ((forward[r] as Matrix)[h] as Vector)[i]!;
      }
      return w;
    });
  });
  const reads = readWeights.map((w) =>
    Array.from({ length: W }, (_, col) =>
      w.reduce((acc, wi, i) => acc + wi * ((memory[i] as Vector)[col] as number), 0),
    ),
  );
  return { reads, state: { memory, usage, link, precedence, readWeights, writeWeights } };
}

/** The `k` largest entries kept (ties: lower index first), the rest 0. */
export function keepLargestOracle(v: Vector, k: number): Vector {
  const kept = new Set(
    v
      .map((x, i) => ({ x, i }))
      .sort((a, b) => b.x - a.x || a.i - b.i)
      .slice(0, k)
      .map((e) => e.i),
  );
  return v.map((x, i) => (kept.has(i) ? x : 0));
}

/**
 * Sparse link update of one write head: the dense update with the K largest entries of w and
 * of p_{t-1}, then every row cut to its K largest entries.
 */
export function sparseLinkOracle(
  link: Matrix,
  precedence: Vector,
  writeWeights: Vector,
  k: number,
): Matrix {
  const [next] = linkOracle(
    [link],
    [keepLargestOracle(precedence, k)],
    [keepLargestOracle(writeWeights, k)],
  );
  return (next as Matrix).map((row) => keepLargestOracle(row, k));
}
