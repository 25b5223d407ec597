/**
 * The backend check page: runs the fused fast paths of the NTM, the DNC and the LSTM baseline on
 * every backend the browser offers (cpu, wasm, webgl) and compares them with cpu, the reference:
 * the loss and every gradient on one fixed batch, then a few training steps on that batch (the
 * loss must fall). Then the training speed on each backend at `mann perf`'s workload (copy at
 * length 20, batch 16, the paper configurations). Results go to the tables and to
 * `globalThis.backendCheck`.
 */
import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  Trainer,
  batchTensors,
  createModel,
  maskedBitsPerSequence,
  selectBackend,
} from '@mann/core';
import type { ModelConfig, SequenceBatch } from '@mann/core';
import '@mann/ntm';
import '@mann/dnc';
import { createTask } from '@mann/tasks';
import { WASM_PATHS, singleThreadedWasm } from './wasm-paths.js';

const BACKENDS = ['cpu', 'wasm', 'webgl'] as const;
type Backend = (typeof BACKENDS)[number];

/** Training steps on the fixed batch, and timed steps per speed measurement. */
const TRAINING_STEPS = 8;
const TIMED_STEPS = 3;

/** Small models with LSTM controllers, so the fused LSTM ops run too. */
function parityConfigs(inputSize: number, outputSize: number): Record<string, ModelConfig> {
  const controller = { kind: 'lstm', hiddenSizes: [16] };
  const memory = { memorySlots: 16, memoryWidth: 8 };
  return {
    ntm: { type: 'ntm', inputSize, outputSize, controller, ...memory },
    dnc: { type: 'dnc', inputSize, outputSize, controller, ...memory, readHeads: 2 },
    lstm: { type: 'lstm', inputSize, outputSize, hiddenSizes: [16] },
  };
}

/** The paper configurations `mann perf` measures (LSTM controllers of 100, memory 128 x 20). */
function perfConfigs(inputSize: number, outputSize: number): Record<string, ModelConfig> {
  const controller = { kind: 'lstm', hiddenSizes: [100] };
  const memory = { memorySlots: 128, memoryWidth: 20 };
  return {
    'NTM (1 read, 1 write head)': { type: 'ntm', inputSize, outputSize, controller, ...memory },
    'DNC (4 read heads)': {
      type: 'dnc',
      inputSize,
      outputSize,
      controller,
      ...memory,
      readHeads: 4,
    },
    'LSTM baseline 1 x 100': { type: 'lstm', inputSize, outputSize, hiddenSizes: [100] },
  };
}

/** What one model did on one backend. */
interface Measurement {
  readonly loss: number;
  readonly gradients: Record<string, Float32Array>;
  /** Losses of the training steps on the fixed batch, first to last. */
  readonly training: number[];
}

/** One model on one backend against cpu. */
export interface BackendRow {
  model: string;
  backend: Backend;
  loss: number;
  /** |loss - loss on cpu| / max(1, |loss on cpu|). */
  lossDifference: number;
  /** Largest max |g - g on cpu| / max(1, max |g on cpu|) over the parameters. */
  gradientDifference: number;
  firstTrainingLoss: number;
  lastTrainingLoss: number;
}

/** Training speed of one model on one backend at the perf workload. */
export interface SpeedRow {
  model: string;
  backend: Backend;
  /** From the median step time. */
  sequencesPerSecond: number;
  millisecondsPerStep: number;
}

function measure(config: ModelConfig, batch: SequenceBatch): Measurement {
  const model = createModel(config, { seed: 7 });
  try {
    const entries = model.parameters.trainableEntries();
    const { loss, gradients } = tf.tidy(() => {
      const { inputs, targets, mask } = batchTensors(batch);
      const { value, grads } = tf.variableGrads(
        () => maskedBitsPerSequence(model.run(inputs).outputs, targets, mask),
        entries.map(([, v]) => v),
      );
      const out: Record<string, Float32Array> = {};
      for (const [name, v] of entries) out[name] = grads[v.name]!.dataSync() as Float32Array;
      return { loss: value.dataSync()[0]!, gradients: out };
    });
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-2 } });
    const training: number[] = [];
    for (let i = 0; i < TRAINING_STEPS; i++)
      training.push(trainer.trainStep(batch).bitsPerSequence);
    trainer.dispose();
    return { loss, gradients, training };
  } finally {
    model.dispose();
  }
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

function speeds(backend: Backend): SpeedRow[] {
  const task = createTask('copy', { minLength: 20, maxLength: 20 });
  const batch = task.sample(new Rng(5), 16);
  return Object.entries(perfConfigs(task.inputWidth, task.outputWidth)).map(([name, config]) => {
    const model = createModel(config, { seed: 1 });
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-3 } });
    try {
      trainer.trainStep(batch); // warm-up: shaders compiled, buffers allocated
      const times: number[] = [];
      for (let i = 0; i < TIMED_STEPS; i++) {
        const start = performance.now();
        trainer.trainStep(batch);
        times.push(performance.now() - start);
      }
      const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
      return {
        model: name,
        backend,
        millisecondsPerStep: median,
        sequencesPerSecond: (batch.batchSize * 1000) / median,
      };
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
}

async function run(): Promise<{ rows: BackendRow[]; speed: SpeedRow[] }> {
  const task = createTask('copy', { bits: 6, minLength: 3, maxLength: 6 });
  const batch = task.sample(new Rng(11), 8);
  const rows: BackendRow[] = [];
  const speed: SpeedRow[] = [];
  const reference: Record<string, Measurement> = {};
  for (const backend of BACKENDS) {
    singleThreadedWasm();
    await selectBackend({ backend, wasmPaths: WASM_PATHS });
    for (const [name, config] of Object.entries(parityConfigs(task.inputWidth, task.outputWidth))) {
      const m = measure(config, batch);
      const cpu = (reference[name] ??= m);
      rows.push({
        model: name,
        backend,
        loss: m.loss,
        lossDifference: Math.abs(m.loss - cpu.loss) / Math.max(1, Math.abs(cpu.loss)),
        gradientDifference: Math.max(
          ...Object.keys(cpu.gradients).map((p) =>
            relativeDifference(m.gradients[p]!, cpu.gradients[p]!),
          ),
        ),
        firstTrainingLoss: m.training[0]!,
        lastTrainingLoss: m.training.at(-1)!,
      });
    }
    speed.push(...speeds(backend));
  }
  return { rows, speed };
}

function table(selector: string, header: string[], rows: string[][]): void {
  const element = document.querySelector<HTMLTableElement>(selector)!;
  const cells = (tag: string, values: string[]) =>
    values.map((v) => `<${tag}>${v}</${tag}>`).join('');
  element.innerHTML = [
    `<tr>${cells('th', header)}</tr>`,
    ...rows.map((r) => `<tr>${cells('td', r)}</tr>`),
  ].join('');
}

function show(rows: BackendRow[], speed: SpeedRow[]): void {
  table(
    '#results',
    [
      'model',
      'backend',
      'loss',
      'loss vs cpu',
      'gradients vs cpu',
      `loss over ${TRAINING_STEPS} steps`,
    ],
    rows.map((r) => [
      r.model,
      r.backend,
      r.loss.toFixed(4),
      r.lossDifference.toExponential(1),
      r.gradientDifference.toExponential(1),
      `${r.firstTrainingLoss.toFixed(2)} → ${r.lastTrainingLoss.toFixed(2)}`,
    ]),
  );
  table(
    '#speed',
    ['model', 'backend', 'sequences/s', 'ms/step'],
    speed.map((r) => [
      r.model,
      r.backend,
      r.sequencesPerSecond.toFixed(0),
      r.millisecondsPerStep.toFixed(0),
    ]),
  );
}

const status = document.querySelector<HTMLDivElement>('#status')!;
const check = globalThis as unknown as {
  backendCheck?: { rows?: BackendRow[]; speed?: SpeedRow[]; error?: string };
};
run().then(
  ({ rows, speed }) => {
    check.backendCheck = { rows, speed };
    show(rows, speed);
    status.textContent = 'done';
    status.dataset.state = 'done';
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    check.backendCheck = { error: message };
    status.textContent = `failed: ${message}`;
    status.dataset.state = 'failed';
  },
);
