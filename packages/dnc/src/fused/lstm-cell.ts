// The LSTM cell of the DNC's controller for a batch, in plain JS, with core's gate layout and
// formula (`lstmCell`): z = [i, f, g, o] pre-activations, c' = s(f) c + s(i) tanh(g),
// h' = s(o) tanh(c'), then h' clipped to +-clip (MemoryNetwork's controller-output clip;
// Infinity disables it). B batch, C units; arrays row-major [B, ...].

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * @param z - pre-activations, [B, 4C]
 * @param prevCell - c_{t-1}, [B, C]
 * @param gates - s(i), s(f), tanh(g), s(o), [B, 4C], written
 * @param cell - c_t, [B, C], written
 * @param tanhCell - tanh(c_t), [B, C], written
 * @param hidden - h_t, written to rows of `hidden` with stride `stride` from `offset`
 * @param clipped - clip(h_t), [B, C], written
 */
export function lstmCellForward(
  batch: number,
  units: number,
  clip: number,
  z: Float32Array,
  prevCell: Float32Array,
  gates: Float32Array,
  cell: Float32Array,
  tanhCell: Float32Array,
  hidden: Float32Array,
  stride: number,
  clipped: Float32Array,
): void {
  const c4 = 4 * units;
  for (let b = 0; b < batch; b++) {
    for (let u = 0; u < units; u++) {
      const g0 = b * c4 + u;
      const i = sigmoid(z[g0] as number);
      const f = sigmoid(z[g0 + units] as number);
      const g = Math.tanh(z[g0 + 2 * units] as number);
      const o = sigmoid(z[g0 + 3 * units] as number);
      gates[g0] = i;
      gates[g0 + units] = f;
      gates[g0 + 2 * units] = g;
      gates[g0 + 3 * units] = o;
      const at = b * units + u;
      const c = f * (prevCell[at] as number) + i * g;
      cell[at] = c;
      const tc = Math.tanh(c);
      tanhCell[at] = tc;
      const h = o * tc;
      hidden[b * stride + u] = h;
      clipped[at] = Math.min(clip, Math.max(-clip, h));
    }
  }
}

/**
 * Gradients of {@link lstmCellForward}: from dL/dclip(h_t) and dL/dh_t (unclipped: the
 * recurrent path), and dL/dc_t from step t + 1, to dL/dz and dL/dc_{t-1}. The clip passes the
 * gradient where |h| <= clip (TF.js's clipByValue gradient).
 *
 * @param dClipped - dL/dclip(h_t), [B, C]
 * @param dHidden - dL/dh_t from later steps, rows of stride `stride`, or null
 * @param dCell - dL/dc_t, [B, C]
 * @param dz - dL/dz_t, [B, 4C], written
 * @param dPrevCell - dL/dc_{t-1}, [B, C], written (may be `dCell`)
 */
export function lstmCellBackward(
  batch: number,
  units: number,
  clip: number,
  gates: Float32Array,
  prevCell: Float32Array,
  tanhCell: Float32Array,
  hidden: Float32Array,
  stride: number,
  dClipped: Float32Array,
  dHidden: Float32Array | null,
  dCell: Float32Array,
  dz: Float32Array,
  dPrevCell: Float32Array,
): void {
  const c4 = 4 * units;
  for (let b = 0; b < batch; b++) {
    for (let u = 0; u < units; u++) {
      const at = b * units + u;
      const g0 = b * c4 + u;
      const h = hidden[b * stride + u] as number;
      const dh =
        (h >= -clip && h <= clip ? (dClipped[at] as number) : 0) +
        (dHidden ? (dHidden[b * stride + u] as number) : 0);
      const i = gates[g0] as number;
      const f = gates[g0 + units] as number;
      const g = gates[g0 + 2 * units] as number;
      const o = gates[g0 + 3 * units] as number;
      const tc = tanhCell[at] as number;
      const dc = (dCell[at] as number) + dh * o * (1 - tc * tc);
      dz[g0] = dc * g * i * (1 - i);
      dz[g0 + units] = dc * (prevCell[at] as number) * f * (1 - f);
      dz[g0 + 2 * units] = dc * i * (1 - g * g);
      dz[g0 + 3 * units] = dh * tc * o * (1 - o);
      dPrevCell[at] = dc * f;
    }
  }
}
