// A thread of `mann perf`'s machine calibration (see `machineContender` in measure.ts): on each
// message, `rounds` products [16, 190] x [190, 400] with core's SIMD product kernel (the shape
// of the LSTM controller's step, its 300 KB operand in the core's second-level cache), then a
// reply. Work like the training steps', with nothing shared between threads.
import { parentPort } from 'node:worker_threads';
import { createProducts } from '@mann/core/fused';

const [m, k, n] = [16, 190, 400];
const products = createProducts();
const a = Float32Array.from({ length: m * k }, (_, i) => ((i % 17) - 8) / 17);
const b = Float32Array.from({ length: k * n }, (_, i) => ((i % 13) - 6) / 13);
const kept = products.keep(b, k, n);
const out = new Float32Array(m * n); // no garbage: the yardstick is kernel work alone
parentPort?.on('message', (rounds: number) => {
  let check = 0;
  for (let r = 0; r < rounds; r++) check += products.times(a, m, kept, out)[r % (m * n)] as number;
  parentPort?.postMessage(check);
});
