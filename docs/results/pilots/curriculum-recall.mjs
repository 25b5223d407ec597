// Pilot: associative recall with an incremental curriculum on maxItems (2 -> 6), minItems 2.
// The CLI has no curriculum option, so this drives @mann/tasks' incrementalCurriculum and
// @mann/core's Trainer directly. Evaluation: the bench's fixed 'train' evaluation batch of the
// full task (2-6 items, 100 sequences), so numbers compare with the bench runs.
// usage: node pilot-results/curriculum-recall.mjs <model: dnc|ntm> <learningRate> <sequences> [seed]
import {
  selectBackend,
  registerModel,
  createModel,
  Trainer,
  Rng,
} from '@mann/core';
import { dncDefinition } from '@mann/dnc';
import { ntmDefinition } from '@mann/ntm';
import { createTask, getTaskDefinition, incrementalCurriculum } from '@mann/tasks';
import { evaluationBatch } from '@mann/bench';

const [modelType = 'dnc', lrArg = '0.005', seqArg = '10000', seedArg = '1'] = process.argv.slice(2);
await selectBackend({ backend: 'wasm' });
registerModel(dncDefinition);
registerModel(ntmDefinition);
const seed = Number(seedArg);
const full = createTask('associative-recall');
const config =
  modelType === 'ntm'
    ? {
        type: 'ntm',
        controller: { kind: 'lstm', hiddenSizes: [100], init: 'wide-uniform' },
        memorySlots: 128,
        memoryWidth: 20,
        memoryInit: 'random',
        initialWeighting: 'zeros',
        initialReads: 'zeros',
      }
    : { type: 'dnc' };
const model = createModel(
  { ...config, inputSize: full.inputWidth, outputSize: full.outputWidth },
  { seed },
);
const trainer = new Trainer(model, {
  optimizer: { kind: 'adam', learningRate: Number(lrArg) },
  clipNorm: 50,
  clipGradientValue: 0,
});
const curriculum = incrementalCurriculum(getTaskDefinition('associative-recall'), {
  levels: { key: 'maxItems', start: 2, end: 6 },
  params: { minItems: 2 },
  threshold: 0.5,
  window: 10,
});
const evalSet = evaluationBatch(full, 'train', 100);
const rng = new Rng(seed);
const batchSize = 16;
const total = Number(seqArg);
const start = Date.now();
console.log(`curriculum recall ${modelType} adam ${lrArg} seed ${seed}: sequences | wall s | level (maxItems) | eval bits/seq | eval bit errors/seq`);
const report = (seen) => {
  const s = trainer.evaluate(evalSet);
  console.log(
    `${seen} | ${((Date.now() - start) / 1000).toFixed(0)} | ${curriculum.level} (${2 + curriculum.level}) | ${s.bitsPerSequence.toFixed(2)} | ${s.bitErrorsPerSequence.toFixed(2)}`,
  );
};
report(0);
for (let seen = 0; seen < total; ) {
  const task = curriculum.task();
  const batch = task.sample(rng, batchSize);
  const before = trainer.evaluate(batch).bitErrorsPerSequence;
  trainer.trainStep(batch);
  seen += batchSize;
  if (curriculum.update(before)) console.log(`  advanced to level ${curriculum.level} (maxItems ${2 + curriculum.level}) after ${seen} sequences`);
  if (seen % 1008 === 0 || seen >= total) report(seen);
}
trainer.dispose();
model.dispose();
