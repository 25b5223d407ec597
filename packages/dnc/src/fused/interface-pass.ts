import type { FusedStepSpec } from './spec.js';

// The interface activations of one example (what `parseInterface` applies): identity, sigmoid
// and oneplus = 1 + softplus unit by unit, softmax over each read head's Q modes.

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
/** log(1 + e^x) without overflow. */
const softplus = (x: number): number =>
  x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));

/**
 * @param raw - xi_t, [I]
 * @param out - the activated interface vector, [I], written
 */
export function activateInterface(spec: FusedStepSpec, raw: Float32Array, out: Float32Array): void {
  const { activations, elementwise, interfaceSize: size, modes } = spec;
  for (let u = 0; u < elementwise; u++) {
    const x = raw[u] as number;
    const kind = activations[u];
    out[u] = kind === 0 ? x : kind === 1 ? sigmoid(x) : 1 + softplus(x);
  }
  for (let start = elementwise; start < size; start += modes) {
    let max = -Infinity;
    for (let q = 0; q < modes; q++) max = Math.max(max, raw[start + q] as number);
    let sum = 0;
    for (let q = 0; q < modes; q++) {
      const e = Math.exp((raw[start + q] as number) - max);
      out[start + q] = e;
      sum += e;
    }
    for (let q = 0; q < modes; q++) out[start + q] = (out[start + q] as number) / sum;
  }
}

/**
 * dL/dxi from dL/d(activated): identity' = 1, sigmoid' = s (1 - s), oneplus' = sigmoid,
 * softmax: dx = p (g - sum(g p)).
 *
 * @param raw - xi_t, [I]
 * @param activated - its activations, [I]
 * @param dActivated - dL/d(activated), [I]
 * @param dRaw - dL/dxi_t, [I], written
 */
export function activateInterfaceBackward(
  spec: FusedStepSpec,
  raw: Float32Array,
  activated: Float32Array,
  dActivated: Float32Array,
  dRaw: Float32Array,
): void {
  const { activations, elementwise, interfaceSize: size, modes } = spec;
  for (let u = 0; u < elementwise; u++) {
    const g = dActivated[u] as number;
    const kind = activations[u];
    if (kind === 0) dRaw[u] = g;
    else if (kind === 1) {
      const s = activated[u] as number;
      dRaw[u] = g * s * (1 - s);
    } else dRaw[u] = g * sigmoid(raw[u] as number);
  }
  for (let start = elementwise; start < size; start += modes) {
    let dot = 0;
    for (let q = 0; q < modes; q++)
      dot += (dActivated[start + q] as number) * (activated[start + q] as number);
    for (let q = 0; q < modes; q++) {
      dRaw[start + q] =
        (activated[start + q] as number) * ((dActivated[start + q] as number) - dot);
    }
  }
}
