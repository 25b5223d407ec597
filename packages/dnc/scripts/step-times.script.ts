// Measures DNC training-step times on the current backend (wasm here):
//   npx vitest run --config packages/dnc/scripts/vitest.config.ts step-times
// Environment: DNC_SLOTS ("64,128,256,512,1024"), DNC_MODES ("dense,sparse"),
// DNC_IMPLEMENTATION ("fused"; or "composed", or both: "fused,composed"), DNC_BATCH (16),
// DNC_LENGTH (copy length, 20), DNC_REPEATS (3). Reports wall time and this process's cpu time
// (user + system), which is less disturbed by other processes on a shared machine.
import os from 'node:os';
import { it } from 'vitest';
import { Rng, selectBackend, Trainer } from '@mann/core';
import { copyBatch } from '@mann/core/testing';
import { createDnc } from '@mann/dnc';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

it('step times', async () => {
  const info = await selectBackend();
  const slots = env('DNC_SLOTS', '64,128,256,512,1024').split(',').map(Number);
  const modes = env('DNC_MODES', 'dense,sparse').split(',');
  const implementations = env('DNC_IMPLEMENTATION', 'fused').split(',') as ('fused' | 'composed')[];
  const batch = Number(env('DNC_BATCH', '16'));
  const length = Number(env('DNC_LENGTH', '20'));
  const repeats = Number(env('DNC_REPEATS', '3'));
  const data = copyBatch(new Rng(1), batch, 8, length, length);
  console.log(
    `backend ${info.name}; default DNC (LSTM 100, W 20, R 4, Hw 1); batch ${batch}, copy length ${length} (T = ${data.steps}); ` +
      `ms per training step, median of ${repeats} after a warm-up; load average ${os.loadavg()[0]?.toFixed(1)}`,
  );
  for (const n of slots) {
    for (const mode of modes) {
      for (const implementation of implementations) {
        const model = createDnc(
          {
            inputSize: 9,
            outputSize: 8,
            memorySlots: n,
            sparseLinks: mode === 'sparse',
            implementation,
          },
          { seed: 1 },
        );
        const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-4 } });
        try {
          trainer.trainStep(data);
          const wall: number[] = [];
          const cpu: number[] = [];
          for (let i = 0; i < repeats; i++) {
            const start = performance.now();
            const startCpu = process.cpuUsage();
            trainer.trainStep(data);
            const used = process.cpuUsage(startCpu);
            wall.push(performance.now() - start);
            cpu.push((used.user + used.system) / 1000);
          }
          console.log(
            `N=${n} ${mode} ${implementation}: ${median(wall).toFixed(0)} ms wall, ${median(cpu).toFixed(0)} ms cpu`,
          );
        } catch (error) {
          console.log(
            `N=${n} ${mode} ${implementation}: failed: ${(error as Error).message.split('\n')[0]}`,
          );
        } finally {
          trainer.dispose();
          model.dispose();
        }
      }
    }
  }
});
