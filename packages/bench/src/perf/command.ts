import { cpus } from 'node:os';
import { currentBackend } from '@mann/core';
import type { CommonOptions } from '../commands.js';
import { table } from '../table.js';
import {
  PERF_BATCH_SIZE,
  measure,
  modelContender,
  peerContender,
  perfBatch,
  type Contender,
  type PerfResult,
} from './measure.js';

/** The models of the comparison and the speed each must reach relative to the peer (issue 7). */
export const PERF_MODELS: readonly {
  label: string;
  config: Record<string, unknown> & { type: string };
  target: number;
}[] = [
  { label: 'ntm (paper: LSTM 100, 128 x 20, 1R 1W)', config: { type: 'ntm' }, target: 2 },
  { label: 'dnc (default: 128 x 20, 4R 1W)', config: { type: 'dnc' }, target: 1 },
  { label: 'lstm baseline (1 x 100)', config: { type: 'lstm', hiddenSizes: [100] }, target: 3 },
];

/** Memory sizes of the scale measurement. */
export const SCALE_SLOTS = [64, 128, 256, 512, 1024, 2048, 4096] as const;

/** Dense link matrices kept for backprop beyond this many bytes are not attempted. */
const DENSE_LINK_BYTES_LIMIT = 3 * 2 ** 30;

interface ScaleRow {
  readonly model: string;
  readonly slots: number;
  readonly msPerStep: number | null;
  readonly skipped?: string;
}

async function measureScale(repeats: number, log: (m: string) => void): Promise<ScaleRow[]> {
  const batch = perfBatch();
  const rows: ScaleRow[] = [];
  const variants = [
    { model: 'ntm', config: (n: number) => ({ type: 'ntm', memorySlots: n }) },
    { model: 'dnc dense', config: (n: number) => ({ type: 'dnc', memorySlots: n }), dense: true },
    {
      model: 'dnc sparse (K = 8)',
      config: (n: number) => ({ type: 'dnc', memorySlots: n, sparseLinks: true, sparseLinkK: 8 }),
    },
  ];
  for (const v of variants) {
    for (const n of SCALE_SLOTS) {
      const linkBytes = batch.batchSize * n * n * 4 * batch.steps;
      if (v.dense && linkBytes > DENSE_LINK_BYTES_LIMIT) {
        rows.push({
          model: v.model,
          slots: n,
          msPerStep: null,
          skipped: `dense links would keep ~${(linkBytes / 2 ** 30).toFixed(1)} GiB for backprop`,
        });
        continue;
      }
      const contender = modelContender(v.model, v.config(n), batch);
      try {
        const [result] = await measure([contender], {
          repeats,
          warmup: 1,
          batchSize: PERF_BATCH_SIZE,
        });
        rows.push({ model: v.model, slots: n, msPerStep: result?.msPerStep.median ?? null });
        log(`perf --scale: ${v.model} N=${n}: ${result?.msPerStep.median.toFixed(0)} ms/step`);
      } catch (error) {
        rows.push({
          model: v.model,
          slots: n,
          msPerStep: null,
          skipped: (error as Error).message.split('\n')[0] ?? 'failed',
        });
      } finally {
        contender.dispose();
      }
    }
  }
  return rows;
}

/** `mann perf` */
export async function perfCommand(
  options: CommonOptions & { scale: boolean; repeats: number },
  prepare: (options: CommonOptions) => Promise<string>,
): Promise<number> {
  const backend = await prepare(options);
  const log = (m: string): void => {
    if (!options.json) process.stderr.write(`${m}\n`);
  };
  const batch = perfBatch();
  const contenders: Contender[] = [
    peerContender(batch),
    ...PERF_MODELS.map((m) => modelContender(m.label, m.config, batch)),
  ];
  let results: PerfResult[];
  try {
    results = await measure(contenders, {
      repeats: Math.max(1, options.repeats),
      warmup: 2,
      batchSize: batch.batchSize,
      onProgress: log,
    });
  } finally {
    for (const c of contenders) c.dispose();
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const scale = options.scale ? await measureScale(3, log) : undefined;
  const targets = [null, ...PERF_MODELS.map((m) => m.target)];
  const machine = `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}`;
  const workload = `copy, length ${batch.steps >> 1} (${batch.steps} steps), batch ${batch.batchSize}, Adam, one training step = forward + backward + clipping + update`;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ backend: currentBackend()?.name ?? backend, machine, workload, results: results.map((r, i) => ({ ...r, target: targets[i] })), peakRssMb, scale }, null, 2)}\n`,
    );
  } else {
    const rows = results.map((r, i) => [
      r.label,
      r.sequencesPerSecond,
      r.msPerStep.median,
      `${r.msPerStep.min.toFixed(0)}-${r.msPerStep.max.toFixed(0)}`,
      r.kernelsPerStep,
      i === 0
        ? '1 (peer)'
        : `${(r.ratioToPeer ?? 0).toFixed(2)}x (target ${targets[i]}x: ${(r.ratioToPeer ?? 0) >= (targets[i] ?? 0) ? 'met' : 'NOT met'})`,
    ]);
    process.stdout.write(
      `backend ${backend}; ${machine}\nworkload: ${workload}; ${options.repeats} timed steps each, alternating\n\n`,
    );
    process.stdout.write(
      `${table(['model', 'seq/s', 'ms/step (median)', 'min-max', 'kernels/step', 'vs peer'], rows)}\n\npeak resident memory of this process: ${peakRssMb.toFixed(0)} MB\n`,
    );
    if (scale) {
      const models = [...new Set(scale.map((s) => s.model))];
      const scaleRows = SCALE_SLOTS.map((n) => [
        String(n),
        ...models.map((m) => {
          const row = scale.find((s) => s.model === m && s.slots === n);
          return row?.msPerStep != null ? row.msPerStep.toFixed(0) : `skipped`;
        }),
      ]);
      process.stdout.write(
        `\nms per training step against memory slots N:\n${table(['N', ...models], scaleRows)}\n`,
      );
      for (const s of scale.filter((x) => x.skipped))
        process.stdout.write(`  ${s.model} N=${s.slots}: ${s.skipped}\n`);
    }
  }
  return 0;
}
