#!/usr/bin/env node
// Training fingerprints: a few training steps of the models and optimizers that docs/results
// was produced with (and variants that take other code paths: DNC-MD, two write heads, other
// widths), each printed as one JSON line with its losses (all 17 digits) and a SHA-256 of every
// parameter afterwards. Run it on the code before and after a change that should not change any
// result (a faster kernel, a refactor): identical output means training is bit for bit the
// same, so the published reproduction still describes the code; any difference names the
// config that moved. It asserts nothing itself: compare the two outputs (diff).
//
// Build first (npm run build), then from the repository root:
//   node scripts/fingerprint.mjs > /tmp/after.txt
// and the same in a checkout of the old commit; then diff the two files. FINGERPRINT_WORKERS=2
// trains on 2 threads (`workers: 2`; deterministic for a given count, not equal to 1 thread bit
// for bit), for changes to the threaded trainer.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Rng, Trainer, createModel, selectBackend } from '@mann/core';
import { registerBuiltins } from '@mann/bench';
import { createTask } from '@mann/tasks';

const STEPS = 15;
const WORKERS = Number(process.env.FINGERPRINT_WORKERS || 1);
const threading =
  WORKERS > 1
    ? {
        workers: WORKERS,
        workerModules: [new URL('../packages/bench/dist/builtins.js', import.meta.url).href],
      }
    : {};
const adam = (learningRate) => ({ optimizer: { kind: 'adam', learningRate }, clipNorm: 50 });
const paperRmsprop = {
  optimizer: { kind: 'rmsprop', learningRate: 3e-4, momentum: 0.9, decay: 0.95 },
  clipGradientValue: 10,
  clipNorm: 0,
};

/** [label, model config, trainer options, batch size] */
const CONFIGS = [
  ['ntm copy recipe (RMSProp, element-wise clip, batch 1)', { type: 'ntm' }, paperRmsprop, 1],
  ['ntm repeat-copy recipe (Adam 1e-2, batch 16)', { type: 'ntm' }, adam(1e-2), 16],
  [
    'ntm W 8, N 32, centred RMSProp',
    { type: 'ntm', memoryWidth: 8, memorySlots: 32 },
    { optimizer: { kind: 'rmsprop', learningRate: 1e-3, momentum: 0.9, centered: true } },
    4,
  ],
  ['dnc default (Adam 5e-3, batch 16)', { type: 'dnc' }, adam(5e-3), 16],
  [
    'dnc-md (masking, deallocation, link sharpness)',
    { type: 'dnc', masking: true, deallocation: true, linkSharpness: true },
    adam(5e-3),
    8,
  ],
  [
    'dnc 2 write heads, 3 read heads, N 36',
    { type: 'dnc', writeHeads: 2, readHeads: 3, memorySlots: 36, deallocation: true },
    adam(5e-3),
    8,
  ],
  [
    'dnc W 12, N 20, 2 read heads',
    { type: 'dnc', memoryWidth: 12, memorySlots: 20, readHeads: 2 },
    adam(5e-3),
    4,
  ],
  ['lstm 3 x 256 (Adam 1e-3)', { type: 'lstm', hiddenSizes: [256, 256, 256] }, adam(1e-3), 16],
  [
    'lstm 1 x 64, centred RMSProp, epsilon outside the root',
    { type: 'lstm', hiddenSizes: [64] },
    {
      optimizer: {
        kind: 'rmsprop',
        learningRate: 1e-3,
        centered: true,
        epsilonPlacement: 'outside-root',
      },
    },
    8,
  ],
];

await selectBackend({ backend: process.env.MANN_BACKEND || 'wasm' });
registerBuiltins();
const task = createTask('copy', { bits: 8, minLength: 1, maxLength: 20 });
for (const [label, config, options, batchSize] of CONFIGS) {
  const model = createModel(
    { ...config, inputSize: task.inputWidth, outputSize: task.outputWidth },
    { seed: 3 },
  );
  const trainer = new Trainer(model, { ...options, ...threading });
  const rng = new Rng(9);
  const losses = [];
  for (let step = 0; step < STEPS; step++) {
    losses.push(trainer.trainStep(task.sample(rng, batchSize)).bitsPerSequence.toPrecision(17));
  }
  const hash = createHash('sha256');
  for (const [name, value] of model.parameters.entries()) {
    hash.update(name);
    const values = value.dataSync();
    hash.update(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  }
  process.stdout.write(
    `${JSON.stringify({ config: label, losses, parameters: hash.digest('hex') })}\n`,
  );
  await trainer.close();
  trainer.dispose();
  model.dispose();
}
