// Pilot analysis: a trained DNC copy checkpoint at several lengths.
// usage: node pilot-results/analyse-dnc-copy.mjs <checkpoint> [lengths,comma] [batch]
import * as tf from '@tensorflow/tfjs';
import {
  selectBackend,
  loadCheckpoint,
  restoreCheckpoint,
  batchTensors,
  Rng,
  registerModel,
  createModel,
} from '@mann/core';
import { dncDefinition } from '@mann/dnc';
import { createTask } from '@mann/tasks';

const [path, lengthsArg = '10,20,30,50,100,120', batchArg = '16', ...flags] =
  process.argv.slice(2);
await selectBackend({ backend: 'wasm' });
registerModel(dncDefinition);
const checkpoint = await loadCheckpoint(path);
const { model } = restoreCheckpoint(checkpoint);
const compareComposed = flags.includes('--composed');
let composed;
if (compareComposed) {
  composed = createModel({ ...checkpoint.modelConfig, implementation: 'composed' });
  composed.parameters.load(checkpoint.parameters);
}
const B = Number(batchArg);
const fmt = (x, d = 3) => Number(x).toFixed(d);

for (const L of lengthsArg.split(',').map(Number)) {
  const task = createTask('copy', { minLength: L, maxLength: L });
  const batch = task.sample(new Rng(1234 + L), B);
  const { inputs } = batchTensors(batch);
  const T = batch.steps;
  const O = batch.outputWidth;
  const fusedOut = tf.tidy(() => tf.sigmoid(model.run(inputs).outputs).dataSync().slice());
  const traced = model.run(inputs, { trace: true });
  const tracedOut = tf.sigmoid(traced.outputs).dataSync();
  let maxDiff = 0;
  for (let i = 0; i < fusedOut.length; i++)
    maxDiff = Math.max(maxDiff, Math.abs(fusedOut[i] - tracedOut[i]));
  let composedDiff = null;
  if (composed) {
    const c = tf.tidy(() => tf.sigmoid(composed.run(inputs).outputs).dataSync().slice());
    composedDiff = 0;
    for (let i = 0; i < c.length; i++)
      composedDiff = Math.max(composedDiff, Math.abs(fusedOut[i] - c[i]));
  }
  // errors per output position (bucketed by tenths of L)
  const buckets = 5;
  const errs = new Array(buckets).fill(0);
  const cnt = new Array(buckets).fill(0);
  let wrong = 0;
  let judged = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      if (batch.mask[b * T + t] === 0) continue;
      const pos = t - (L + 1);
      const k = Math.min(buckets - 1, Math.floor((pos / L) * buckets));
      for (let o = 0; o < O; o++) {
        const idx = (b * T + t) * O + o;
        const bad = fusedOut[idx] > 0.5 !== batch.targets[idx] > 0.5 ? 1 : 0;
        wrong += bad;
        judged++;
        errs[k] += bad;
        cnt[k]++;
      }
    }
  }
  // traces: [B, T, ...]
  const tr = traced.traces;
  const get = (key) => ({ data: tr[key].dataSync(), shape: tr[key].shape });
  const ww = get('writeWeights'); // [B,T,Hw,N]
  const rw = get('readWeights'); // [B,T,R,N]
  const modes = get('readModes'); // [B,T,R,3]
  const wg = get('writeGate'); // [B,T,Hw]
  const ag = get('allocationGate'); // [B,T,Hw]
  const fg = get('freeGates'); // [B,T,R]
  const usage = get('usage'); // [B,T,N]
  const N = ww.shape[ww.shape.length - 1];
  const R = rw.shape[2];
  const mean = (arr, idxs) => idxs.reduce((s, i) => s + arr[i], 0) / idxs.length;
  const phases = { write: [0, L], delim: [L, L + 1], read: [L + 1, 2 * L + 1] };
  console.log(
    `\n== L=${L} T=${T} B=${B}: bit error rate ${fmt((100 * wrong) / judged, 2)} % | by output position fifths: ${errs
      .map((e, k) => fmt((100 * e) / Math.max(1, cnt[k]), 1))
      .join(' / ')} % | max |fused-traced| ${maxDiff.toExponential(2)}${
      composedDiff === null ? '' : ` | max |fused-composed| ${composedDiff.toExponential(2)}`
    }`,
  );
  for (const [name, [t0, t1]] of Object.entries(phases)) {
    const idx1 = [];
    for (let b = 0; b < B; b++) for (let t = t0; t < t1; t++) idx1.push(b * T + t);
    const gates = {
      writeGate: mean(wg.data, idx1),
      allocGate: mean(ag.data, idx1),
      freeGate: mean(fg.data, idx1.flatMap((i) => Array.from({ length: R }, (_, r) => i * R + r))),
    };
    // write sharpness: max of write weighting
    let wmax = 0;
    let wsum = 0;
    for (const i of idx1) {
      let m = 0;
      let s = 0;
      for (let n = 0; n < N; n++) {
        m = Math.max(m, ww.data[i * N + n]);
        s += ww.data[i * N + n];
      }
      wmax += m;
      wsum += s;
    }
    const modeMeans = [];
    for (let r = 0; r < R; r++) {
      const m = [0, 0, 0];
      for (const i of idx1) for (let k = 0; k < 3; k++) m[k] += modes.data[(i * R + r) * 3 + k];
      modeMeans.push(m.map((v) => fmt(v / idx1.length, 2)).join('/'));
    }
    let rmax = 0;
    for (const i of idx1)
      for (let r = 0; r < R; r++) {
        let m = 0;
        for (let n = 0; n < N; n++) m = Math.max(m, rw.data[(i * R + r) * N + n]);
        rmax += m / R;
      }
    console.log(
      `  ${name.padEnd(5)} writeGate ${fmt(gates.writeGate)} allocGate ${fmt(gates.allocGate)} freeGate ${fmt(
        gates.freeGate,
      )} | write max ${fmt(wmax / idx1.length)} sum ${fmt(wsum / idx1.length)} | read max ${fmt(
        rmax / idx1.length,
      )} | modes b/c/f per head ${modeMeans.join('  ')}`,
    );
  }
  // sequence 0: write argmax per write step, usage total at end of write phase, and which
  // written step each read head's argmax points to during reading
  const b = 0;
  const writeSlots = [];
  for (let t = 0; t < L; t++) {
    let best = 0;
    for (let n = 1; n < N; n++)
      if (ww.data[(b * T + t) * N + n] > ww.data[(b * T + t) * N + best]) best = n;
    writeSlots.push(best);
  }
  const distinct = new Set(writeSlots).size;
  let usageSum = 0;
  for (let n = 0; n < N; n++) usageSum += usage.data[(b * T + (L - 1)) * N + n];
  console.log(
    `  seq0: ${distinct} distinct write slots of ${L}; usage sum after writing ${fmt(usageSum, 1)}; first write slots ${writeSlots
      .slice(0, 12)
      .join(',')}${L > 12 ? ` ... last ${writeSlots.slice(-6).join(',')}` : ''}`,
  );
  for (let r = 0; r < R; r++) {
    const points = [];
    for (let t = L + 1; t < 2 * L + 1; t++) {
      let best = 0;
      for (let n = 1; n < N; n++)
        if (rw.data[((b * T + t) * R + r) * N + n] > rw.data[((b * T + t) * R + r) * N + best])
          best = n;
      const step = writeSlots.indexOf(best);
      points.push(step);
    }
    const correct = points.filter((p, i) => p === i).length;
    console.log(
      `  head ${r}: read argmax = written step (expected i): ${correct}/${L} in place; first ${points
        .slice(0, 12)
        .join(',')}${L > 12 ? ` ... last ${points.slice(-6).join(',')}` : ''}`,
    );
  }
  // the delimiter step and the first read step: each head's top slots as written step (weight)
  for (const t of [L, L + 1]) {
    const parts = [];
    for (let r = 0; r < R; r++) {
      const row = Array.from({ length: N }, (_, n) => [n, rw.data[((b * T + t) * R + r) * N + n]]);
      row.sort((x, y) => y[1] - x[1]);
      const modeStr = [0, 1, 2].map((k) => fmt(modes.data[((b * T + t) * R + r) * 3 + k], 2)).join('/');
      parts.push(`h${r}[${modeStr}] ` + row.slice(0, 3).map(([n, v]) => `${writeSlots.indexOf(n)}(${fmt(v, 2)})`).join(' '));
    }
    console.log(`  t=${t === L ? 'delim' : 'read0'}: ${parts.join(' | ')}`);
  }
  tf.dispose([traced.outputs, ...Object.values(traced.traces)]);
  inputs.dispose();
}
