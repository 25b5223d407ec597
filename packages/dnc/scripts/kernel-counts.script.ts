// Kernels launched by one DNC memory step (default sizes, batch 16), forward only and forward
// plus backward, in total (fused and composed implementations) and per mechanism (composed). On wasm each kernel launch costs ~20 us, so at
// small N the count, not the arithmetic, sets the step time:
//   npx vitest run --config packages/dnc/scripts/vitest.config.ts kernel-counts
// SHOW="whole step" also lists the kernels by name.
import * as tf from '@tensorflow/tfjs';
import { it } from 'vitest';
import { contentWeights, selectBackend } from '@mann/core';
import {
  allocationWeighting,
  directionalWeights,
  DncMemory,
  parseInterface,
  updateTemporalLink,
  updateUsage,
} from '@mann/dnc';

let kernels = 0;
const names = new Map<string, number>();

/** Counts every kernel the engine runs (custom-gradient ops count once, plus their insides). */
function countKernels(): void {
  const engine = tf.engine() as unknown as {
    runKernelFunc: (config: { kernelName?: string }) => unknown;
  };
  const original = engine.runKernelFunc.bind(engine);
  engine.runKernelFunc = (config) => {
    kernels++;
    const name = config.kernelName ?? 'custom';
    names.set(name, (names.get(name) ?? 0) + 1);
    return original(config);
  };
}

/** Kernels of `f`, after one warm-up run. */
function measure(f: () => void): number {
  f();
  kernels = 0;
  names.clear();
  f();
  return kernels;
}

function report(name: string, f: () => tf.Tensor, xs: tf.Tensor[]): void {
  const forward = measure(() => tf.tidy(() => void f()));
  const both = measure(() => tf.tidy(() => void tf.grads(() => tf.sum(f()))(xs)));
  if (process.env.SHOW === name)
    console.log([...names.entries()].map(([k, v]) => `${k}: ${v}`).join(', '));
  console.log(
    `${name.padEnd(24)} forward ${String(forward).padStart(4)}, forward + backward ${String(both).padStart(4)}`,
  );
}

it('kernel counts', async () => {
  await selectBackend();
  countKernels();
  const [B, N, W, R] = [16, 128, 20, 4];
  const memory = new DncMemory({
    memorySlots: N,
    memoryWidth: W,
    readHeads: R,
    implementation: 'composed',
  });
  const fused = new DncMemory({ memorySlots: N, memoryWidth: W, readHeads: R });
  const xi = tf.randomNormal([B, memory.interfaceSize]) as tf.Tensor2D;
  const state = memory.initialState(B);
  const u = tf.randomUniform([B, N]) as tf.Tensor2D;
  const w = tf.randomUniform([B, 1, N]) as tf.Tensor3D;
  const wr = tf.randomUniform([B, R, N]) as tf.Tensor3D;
  const f = tf.randomUniform([B, R]) as tf.Tensor2D;
  const link = tf.randomUniform([B, 1, N, N]) as tf.Tensor4D;
  const m = tf.randomNormal([B, N, W]) as tf.Tensor3D;
  const k = tf.randomNormal([B, R, W]) as tf.Tensor3D;
  report('whole step (fused)', () => fused.step(xi, fused.initialState(B)).reads, [xi]);
  report('whole step', () => memory.step(xi, state).reads, [xi]);
  report('parseInterface', () => parseInterface(xi, memory.layout).readKeys, [xi]);
  report('updateUsage', () => updateUsage(u, w, f, wr), [u, f, wr]);
  report('allocationWeighting', () => allocationWeighting(u), [u]);
  report('updateTemporalLink', () => updateTemporalLink(link, w, w), [link, w]);
  report('directionalWeights', () => directionalWeights(link, wr, true), [link, wr]);
  report('contentWeights (core)', () => contentWeights(m, k, f), [m, k, f]);
});
