// NTM convergence ablation (docs/results/ntm-convergence.md): trains the NTM at the paper's
// copy configuration (LSTM 100, memory 128 x 20, one read and one write head) with batch 1,
// RMSProp (lr 1e-4, decay 0.95, momentum 0.9) and element-wise gradient clipping to 10, and
// prints the number of sequences after which the mean bit errors per sequence over the last
// 1,000 training sequences first fall below 0.1 (pytorch-ntm's criterion), or null.
//
// Each option switches one detail between mann's default and loudinthecloud/pytorch-ntm's
// choice ('torch'); 'model' is merged into the model config (library options).
//   loss      bits: summed cross-entropy in bits per sequence (mann) | mean: mean over bits, nats
//   opt       ours: eps 1e-6 inside the square root (mann) | torch: eps 1e-8 outside it
//   lstmInit  ours: Glorot, forget bias 1 | torch: U(+-5/sqrt(in + H)), biases 0
//   headInit  ours: one Glorot interface layer | torch: per head Xavier gain 1.4, bias N(0, 0.01)
//   outInit   ours: output bias 0 | torch: N(0, 0.01)
//   h0        zeros | learned: trained h_0, c_0 starting N(0, 0.05)
//   reads0    learned (mann) | fixed: N(0, 0.01), not trained | zeros
//   weights0  learned (mann) | zeros | uniform
//   memory    constant (mann) | random: U(+-1/sqrt(N + W)), fixed
//
// Build first (npx nx run @mann/bench:build), then from the repository root:
//   node scripts/ntm-ablation.mjs '{"seed":1,"lstmInit":"torch"}'
import * as tf from '@tensorflow/tfjs';
import { Rng, createModel, selectBackend, clipByValue } from '@mann/core';
import '@mann/ntm';
import { createTask } from '@mann/tasks';

const o = {
  seed: 1,
  loss: 'bits', // bits: sum over masked bits / ln 2 (ours); mean: BCE mean over masked elements (nats)
  opt: 'ours', // ours: eps inside sqrt; torch: eps outside sqrt
  eps: undefined,
  lr: 1e-4,
  lstmInit: 'ours', // torch: U(+-5/sqrt(in+out)) on both kernels, zero biases
  forgetBias: undefined, // override forget bias (0 or 1)
  headInit: 'ours', // torch: xavier gain 1.4 per head block, bias N(0, 0.01)
  outInit: 'ours', // torch: bias N(0, 0.01)
  h0: 'zeros', // learned: trained h0, c0 ~ N(0, 0.05)
  reads0: 'learned', // fixed: N(0, 0.01), not trained; zeros
  weights0: 'learned', // zeros; uniform
  memory: 'constant', // random
  clip: 10,
  max: 45000,
  window: 1000,
  ...JSON.parse(process.argv[2] ?? '{}'),
};
const backend = await selectBackend();
const task = createTask('copy', {});
const N = 128,
  W = 20,
  C = 100;
const model = createModel(
  {
    type: 'ntm',
    inputSize: 9,
    outputSize: 8,
    controller: { kind: 'lstm', hiddenSizes: [C] },
    memorySlots: N,
    memoryWidth: W,
    memoryInit: o.memory,
    initialWeighting: o.weights0 === 'learned' ? 'learned' : 'uniform',
    initialReads: o.reads0 === 'learned' ? 'learned' : 'zeros',
    ...(o.model ?? {}),
  },
  { seed: o.seed },
);
const rng = new Rng(o.seed * 7919 + 13);
const params = Object.fromEntries(model.parameters.entries());
const set = (name, f) => {
  const v = params[name];
  if (!v) throw new Error(`no ${name}; have ${Object.keys(params)}`);
  const size = v.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = f(i);
  v.assign(tf.tensor(values, v.shape));
};
if (o.lstmInit === 'torch') {
  const inSize = params['controller/lstm0/inputKernel'].shape[0];
  const s = 5 / Math.sqrt(inSize + C);
  set('controller/lstm0/inputKernel', () => rng.uniformIn(-s, s));
  set('controller/lstm0/recurrentKernel', () => rng.uniformIn(-s, s));
  set('controller/lstm0/bias', () => 0);
}
if (o.forgetBias !== undefined) {
  set('controller/lstm0/bias', (i) => (i >= C && i < 2 * C ? o.forgetBias : 0));
}
if (o.headInit === 'torch') {
  // interface columns: read head addressing (26), write head addressing (26), erase (20), add (20)
  const F = params['interface/kernel'].shape[1];
  const readCols = W + 6;
  const lr = 1.4 * Math.sqrt(6 / (C + readCols));
  const lw = 1.4 * Math.sqrt(6 / (C + (F - readCols)));
  set('interface/kernel', (i) => {
    const col = i % F;
    return col < readCols ? rng.uniformIn(-lr, lr) : rng.uniformIn(-lw, lw);
  });
  set('interface/bias', () => rng.normal(0, 0.01));
}
if (o.outInit === 'torch') set('output/bias', () => rng.normal(0, 0.01));
const extra = [];
let h0, c0;
if (o.h0 === 'learned') {
  h0 = tf.variable(
    tf.tensor2d(
      rng.fill(C, (r) => r.normal(0, 0.05)),
      [1, C],
    ),
  );
  c0 = tf.variable(
    tf.tensor2d(
      rng.fill(C, (r) => r.normal(0, 0.05)),
      [1, C],
    ),
  );
  extra.push(['h0', h0], ['c0', c0]);
}
const fixedReads =
  o.reads0 === 'fixed'
    ? tf.tensor2d(
        rng.fill(W, (r) => r.normal(0, 0.01)),
        [1, W],
      )
    : null;
const variables = Object.fromEntries([...model.parameters.trainableEntries(), ...extra]);
const names = Object.keys(variables);
const slots = {};
const eps = o.eps ?? (o.opt === 'torch' ? 1e-8 : 1e-6);
function apply(grads) {
  tf.tidy(() => {
    for (const n of names) {
      const g = grads[n];
      const v = variables[n];
      const s = slots[n] ?? { n: tf.zerosLike(v), m: tf.zerosLike(v) };
      const sq = tf.add(tf.mul(s.n, 0.95), tf.mul(tf.square(g), 0.05));
      const denom = o.opt === 'torch' ? tf.add(tf.sqrt(sq), eps) : tf.sqrt(tf.add(sq, eps));
      const m = tf.add(tf.mul(s.m, 0.9), tf.div(g, denom));
      v.assign(tf.sub(v, tf.mul(m, o.lr)));
      if (slots[n]) {
        slots[n].n.dispose();
        slots[n].m.dispose();
      }
      slots[n] = { n: tf.keep(sq), m: tf.keep(m) };
    }
  });
}
const dataRng = new Rng(o.seed);
const errs = [];
let sum = 0;
let done = null;
const t0 = Date.now();
for (let seq = 1; seq <= o.max; seq++) {
  const batch = task.sample(dataRng, 1);
  const T = batch.steps;
  let errors = 0;
  tf.tidy(() => {
    const inputs = tf.tensor3d(batch.inputs, [1, T, 9]);
    const targets = tf.tensor3d(batch.targets, [1, T, 8]);
    const mask = tf.tensor2d(batch.mask, [1, T]);
    let logitsKept;
    const { grads } = tf.variableGrads(
      () => {
        const base = model.initialState(1);
        const state = {
          controller: o.h0 === 'learned' ? { layers: [{ h: h0, c: c0 }] } : base.controller,
          memory:
            o.weights0 === 'zeros'
              ? {
                  memory: base.memory.memory,
                  readWeights: tf.zeros([1, 1, N]),
                  writeWeights: tf.zeros([1, 1, N]),
                }
              : base.memory,
          reads: fixedReads ?? base.reads,
        };
        const logits = model.run(inputs, { initialState: state }).outputs;
        logitsKept = tf.keep(logits.clone());
        const perBit = tf.add(
          tf.sub(tf.relu(logits), tf.mul(logits, targets)),
          tf.log1p(tf.exp(tf.neg(tf.abs(logits)))),
        );
        const masked = tf.sum(tf.mul(tf.sum(perBit, -1), mask));
        const L = batch.mask.reduce((a, b) => a + b, 0);
        return o.loss === 'mean' ? tf.div(masked, L * 8) : tf.div(masked, Math.LN2);
      },
      names.map((n) => variables[n]),
    );
    const byName = {};
    for (const n of names) byName[n] = grads[variables[n].name] ?? tf.zerosLike(variables[n]);
    apply(o.clip > 0 ? clipByValue(byName, o.clip) : byName);
    const z = logitsKept.dataSync();
    logitsKept.dispose();
    for (let t = 0; t < T; t++) {
      if (!batch.mask[t]) continue;
      for (let k = 0; k < 8; k++)
        if ((z[t * 8 + k] > 0 ? 1 : 0) !== batch.targets[t * 8 + k]) errors++;
    }
  });
  errs.push(errors);
  sum += errors;
  if (errs.length > o.window) sum -= errs[errs.length - 1 - o.window];
  const mean = sum / Math.min(errs.length, o.window);
  if (seq % 1000 === 0)
    console.error(`${seq} mean ${mean.toFixed(3)} ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  if (seq >= o.window && mean < 0.1) {
    done = seq;
    break;
  }
}
console.log(
  JSON.stringify({
    ...o,
    backend: backend.name,
    converged: done,
    seconds: Math.round((Date.now() - t0) / 1000),
  }),
);
