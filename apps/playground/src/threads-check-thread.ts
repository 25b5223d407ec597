/**
 * The threads check's failing training thread: registers `thread-probe` so that it throws (see
 * thread-probe.ts), then serves the thread as the playground's does (training-thread.ts).
 */
import { serveTrainingThread } from '@mann/core';
import { registerThreadProbe } from './thread-probe.js';
import { WASM_PATHS, singleThreadedWasm } from './wasm-paths.js';

singleThreadedWasm();
registerThreadProbe(true);
serveTrainingThread({ backend: { wasmPaths: WASM_PATHS } });
