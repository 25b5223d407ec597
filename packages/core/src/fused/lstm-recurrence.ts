import * as tf from '@tensorflow/tfjs';

// The LSTM recurrence with the cell arithmetic in plain JS and only matMuls as TF.js kernels.
// A kernel launch costs ~20-100 us on these machines while a [16, 100] cell update is a few us
// of arithmetic, so the composed cell (42 kernels forward and 40 backward per step on wasm,
// counting the Identity kernels that keep tensors for the gradient) is launch-bound. Gates are
// ordered [input, forget, cell, output], as in `lstmCell`. Every matMul here has untransposed
// operands: on wasm a matMul with transposeA or transposeB is often an order of magnitude
// slower than transposing first ([656, 9]^T x [656, 400]: 3.1 ms against 0.2 ms), so
// transposes are laid out in JS or done as a kernel.

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/**
 * What the forward pass keeps for backpropagation through time, as row-major arrays.
 * B = batch, T = steps, H = hidden units, I = input width.
 */
export interface LstmRecurrenceTape {
  readonly batch: number;
  readonly steps: number;
  readonly hidden: number;
  readonly inputSize: number;
  /** The layer's inputs x_t, [B, T, I]. */
  readonly x: Float32Array;
  /** h_0 and c_0, [B, H]. */
  readonly h0: Float32Array;
  readonly c0: Float32Array;
  /** Gate activations sigma(i_t), sigma(f_t), tanh(g_t), sigma(o_t), [B, T, 4H]. */
  readonly gates: Float32Array;
  /** Cell states c_t, [B, T, H]. */
  readonly cells: Float32Array;
  /** tanh(c_t), [B, T, H]. */
  readonly tanhCells: Float32Array;
  /** Hidden states h_t, [B, T, H]: the layer's output. */
  readonly hiddens: Float32Array;
}

function emptyTape(
  x: Float32Array,
  batch: number,
  steps: number,
  hidden: number,
  h0: Float32Array,
  c0: Float32Array,
): LstmRecurrenceTape {
  const states = batch * steps * hidden;
  return {
    batch,
    steps,
    hidden,
    inputSize: x.length / (batch * steps),
    x,
    h0,
    c0,
    gates: new Float32Array(4 * states),
    cells: new Float32Array(states),
    tanhCells: new Float32Array(states),
    hiddens: new Float32Array(states),
  };
}

/** Records unit u of sequence b at step t: c_t = f c_{t-1} + i g, h_t = o tanh(c_t). */
function updateCell(
  tape: LstmRecurrenceTape,
  t: number,
  b: number,
  u: number,
  i: number,
  f: number,
  g: number,
  o: number,
): void {
  const { steps: T, hidden: H } = tape;
  const z = (b * T + t) * 4 * H + u;
  const s = (b * T + t) * H + u;
  const previous = t === 0 ? (tape.c0[b * H + u] as number) : (tape.cells[s - H] as number);
  const c = f * previous + i * g;
  const tc = Math.tanh(c);
  tape.gates[z] = i;
  tape.gates[z + H] = f;
  tape.gates[z + 2 * H] = g;
  tape.gates[z + 3 * H] = o;
  tape.cells[s] = c;
  tape.tanhCells[s] = tc;
  tape.hiddens[s] = o * tc;
}

/**
 * The weights of a layer stacked for {@link lstmSequenceForward}: all four gates of a step come
 * out of one `sigmoid([x_t, h_{t-1}] W + b)` kernel. The cell-gate columns are doubled, so that
 * block gives sigma(2 z_g), and tanh(z_g) = 2 sigma(2 z_g) - 1.
 */
export interface LstmGateWeights {
  /** [W_x; W_h] with the cell-gate columns doubled, [1, I + H, 4H] (batched-matMul rank). */
  readonly kernel: tf.Tensor3D;
  /** b with the cell-gate entries doubled, [4H]. */
  readonly bias: tf.Tensor1D;
}

/** Builds {@link LstmGateWeights} from W_x [I, 4H], W_h [H, 4H] and b [4H], in JS. */
export function lstmGateWeights(
  inputKernel: tf.Tensor2D,
  recurrentKernel: tf.Tensor2D,
  bias: tf.Tensor1D,
): LstmGateWeights {
  const [inputSize, width] = inputKernel.shape;
  const hidden = width / 4;
  const rows = inputSize + hidden;
  const kernel = new Float32Array(rows * width);
  kernel.set(inputKernel.dataSync() as Float32Array);
  kernel.set(recurrentKernel.dataSync() as Float32Array, inputSize * width);
  const scaledBias = Float32Array.from(bias.dataSync() as Float32Array);
  for (let u = 2 * hidden; u < 3 * hidden; u++) {
    for (let r = 0; r < rows; r++) kernel[r * width + u] = 2 * (kernel[r * width + u] as number);
    scaledBias[u] = 2 * (scaledBias[u] as number);
  }
  return { kernel: tf.tensor3d(kernel, [1, rows, width]), bias: tf.tensor1d(scaledBias) };
}

/**
 * sigmoid(a W + b) for a [1, B, I + H] as one kernel. `tf.fused.matMul` splits a non-linear
 * activation into three kernels whenever a gradient tape is active (its gradient covers only
 * linear and relu); no gradient flows through this kernel, so it is run directly, at the
 * rank the kernel expects.
 */
function sigmoidDense(a: tf.Tensor3D, weights: LstmGateWeights): tf.Tensor3D {
  const attributes = { transposeA: false, transposeB: false, activation: 'sigmoid' };
  const inputs = { a, b: weights.kernel, bias: weights.bias };
  return tf.engine().runKernel(tf._FusedMatMul, inputs, attributes) as tf.Tensor3D;
}

/**
 * Runs `z_t = x_t W_x + h_{t-1} W_h + b`, `c_t = s(f) c_{t-1} + s(i) tanh(g)`,
 * `h_t = s(o) tanh(c_t)` for t = 1..T: one kernel per step, with the gate non-linearities in it.
 *
 * @param x - the layer's inputs, [B, T, I] row-major
 * @param weights - see {@link lstmGateWeights}
 * @param h0 - h_0, [B, H] row-major
 * @param c0 - c_0, [B, H] row-major
 */
export function lstmSequenceForward(
  x: Float32Array,
  batch: number,
  steps: number,
  weights: LstmGateWeights,
  h0: Float32Array,
  c0: Float32Array,
): LstmRecurrenceTape {
  const [, rows, width] = weights.kernel.shape;
  const H = width / 4;
  const tape = emptyTape(x, batch, steps, H, h0, c0);
  const { inputSize: I, hiddens } = tape;
  for (let t = 0; t < steps; t++) {
    // [x_t, h_{t-1}], a fresh array each step: the cpu backend keeps the array it is given
    const stacked = new Float32Array(batch * rows);
    for (let b = 0; b < batch; b++) {
      const row = b * steps + t;
      stacked.set(x.subarray(row * I, (row + 1) * I), b * rows);
      const h =
        t === 0 ? h0.subarray(b * H, (b + 1) * H) : hiddens.subarray((row - 1) * H, row * H);
      stacked.set(h, b * rows + I);
    }
    const upload = tf.tensor3d(stacked, [1, batch, rows]);
    const activated = sigmoidDense(upload, weights);
    const sigma = activated.dataSync() as Float32Array;
    upload.dispose();
    activated.dispose();
    for (let b = 0; b < batch; b++) {
      for (let u = 0, r = b * width; u < H; u++, r++) {
        const g = 2 * (sigma[r + 2 * H] as number) - 1;
        updateCell(
          tape,
          t,
          b,
          u,
          sigma[r] as number,
          sigma[r + H] as number,
          g,
          sigma[r + 3 * H] as number,
        );
      }
    }
  }
  return tape;
}

/**
 * One step from its pre-activations `z = xw + hw + b` (xw = x W_x and hw = h W_h, each [B, 4H]
 * row-major), with the gate non-linearities in JS: for single steps, where building the
 * stacked kernel of {@link lstmSequenceForward} would cost more than it saves.
 */
export function lstmStepForward(
  x: Float32Array,
  xw: Float32Array,
  hw: Float32Array,
  bias: Float32Array,
  h0: Float32Array,
  c0: Float32Array,
): LstmRecurrenceTape {
  const width = bias.length;
  const H = width / 4;
  const batch = xw.length / width;
  const tape = emptyTape(x, batch, 1, H, h0, c0);
  const z = (r: number, k: number): number =>
    (xw[r + k] as number) + (hw[r + k] as number) + (bias[k] as number);
  for (let b = 0; b < batch; b++) {
    for (let u = 0; u < H; u++) {
      const r = b * width;
      const i = sigmoid(z(r, u));
      const f = sigmoid(z(r, H + u));
      const g = Math.tanh(z(r, 2 * H + u));
      const o = sigmoid(z(r, 3 * H + u));
      updateCell(tape, 0, b, u, i, f, g, o);
    }
  }
  return tape;
}

/** Gradients from {@link lstmRecurrenceBackward}. */
export interface LstmRecurrenceGradients {
  /** dL/dz_t, the gate pre-activations, [B, T, 4H] row-major. */
  readonly gates: Float32Array;
  /** dL/dh_0, [B, H]. */
  readonly h0: tf.Tensor2D;
  /** dL/dc_0, [B, H] row-major. */
  readonly c0: Float32Array;
}

/**
 * Backpropagation through time: per step the gate gradients in JS and `dh_{t-1} = dz_t W_h^T`
 * as one matMul. The weight gradients are matMuls over all steps at once, left to the caller
 * (see {@link lstmWeightGradients}).
 *
 * @param tape - what the forward pass kept
 * @param dHiddens - dL/dh_t for every step, [B, T, H] row-major
 * @param dLastCell - dL/dc_T from outside the sequence, [B, H] row-major, or null for zero
 * @param recurrentKernel - W_h, [H, 4H], the same values the forward pass used
 */
export function lstmRecurrenceBackward(
  tape: LstmRecurrenceTape,
  dHiddens: Float32Array,
  dLastCell: Float32Array | null,
  recurrentKernel: tf.Tensor2D,
): LstmRecurrenceGradients {
  const { batch: B, steps: T, hidden: H, gates, cells, tanhCells, c0 } = tape;
  const G = 4 * H;
  const dz = new Float32Array(B * T * G);
  const kernelTransposed = tf.transpose(recurrentKernel) as tf.Tensor2D;
  const dc = dLastCell ? Float64Array.from(dLastCell) : new Float64Array(B * H);
  let dhCarry: Float32Array | null = null;
  let dh0: tf.Tensor2D | null = null;
  for (let t = T - 1; t >= 0; t--) {
    const dzStep = new Float32Array(B * G);
    for (let b = 0; b < B; b++) {
      const z = (b * T + t) * G;
      const s = (b * T + t) * H;
      for (let u = 0; u < H; u++) {
        const dh = (dHiddens[s + u] as number) + (dhCarry ? (dhCarry[b * H + u] as number) : 0);
        const i = gates[z + u] as number;
        const f = gates[z + H + u] as number;
        const g = gates[z + 2 * H + u] as number;
        const o = gates[z + 3 * H + u] as number;
        const tc = tanhCells[s + u] as number;
        const previous = t === 0 ? (c0[b * H + u] as number) : (cells[s - H + u] as number);
        const dcTotal = (dc[b * H + u] as number) + dh * o * (1 - tc * tc);
        dc[b * H + u] = dcTotal * f;
        dzStep[b * G + u] = dcTotal * g * i * (1 - i);
        dzStep[b * G + H + u] = dcTotal * previous * f * (1 - f);
        dzStep[b * G + 2 * H + u] = dcTotal * i * (1 - g * g);
        dzStep[b * G + 3 * H + u] = dh * tc * o * (1 - o);
      }
      dz.set(dzStep.subarray(b * G, (b + 1) * G), z);
    }
    const upload = tf.tensor2d(dzStep, [B, G]);
    const product = tf.matMul(upload, kernelTransposed) as tf.Tensor2D;
    upload.dispose();
    if (t > 0) {
      dhCarry = product.dataSync() as Float32Array;
      product.dispose();
    } else {
      dh0 = product;
    }
  }
  kernelTransposed.dispose();
  return { gates: dz, h0: dh0 as tf.Tensor2D, c0: Float32Array.from(dc) };
}

/**
 * `dW_x = X^T dZ` and `dW_h = H_prev^T dZ` over all steps at once, with X [B * T, I] the inputs
 * and H_prev [B * T, H] the state each step started from (h_0, ..., h_{T-1}). The transposed
 * left operands are laid out in JS.
 *
 * @param dGates - dL/dz for every step, [B * T, 4H]
 * @returns dW_x [I, 4H] and dW_h [H, 4H]
 */
export function lstmWeightGradients(
  tape: LstmRecurrenceTape,
  dGates: tf.Tensor2D,
): { inputKernel: tf.Tensor2D; recurrentKernel: tf.Tensor2D } {
  const { batch: B, steps: T, hidden: H, inputSize: I, hiddens, x, h0 } = tape;
  const rows = B * T;
  const inputsTransposed = new Float32Array(I * rows);
  const previousTransposed = new Float32Array(H * rows);
  for (let row = 0; row < rows; row++) {
    for (let k = 0; k < I; k++) inputsTransposed[k * rows + row] = x[row * I + k] as number;
    const first = row % T === 0;
    const source = first ? h0 : hiddens;
    const offset = first ? (row / T) * H : (row - 1) * H;
    for (let u = 0; u < H; u++) previousTransposed[u * rows + row] = source[offset + u] as number;
  }
  return tf.tidy(() => ({
    inputKernel: tf.matMul(tf.tensor2d(inputsTransposed, [I, rows]), dGates),
    recurrentKernel: tf.matMul(tf.tensor2d(previousTransposed, [H, rows]), dGates),
  }));
}
