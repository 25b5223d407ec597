/**
 * A training thread of the playground's trainer (threads > 1): a module Web Worker that the
 * training worker (worker.ts) starts once per extra thread, through `workerScript`. It registers
 * the model types the page trains (the NTM and the DNC packages; the LSTM is core's own), keeps
 * TF.js's wasm backend on its single-threaded binaries as the worker does, and serves the
 * thread: a replica of the model computes the loss and gradients of the chunks of each batch
 * that it claims.
 */
import { serveTrainingThread } from '@mann/core';
import '@mann/ntm';
import '@mann/dnc';
import { WASM_PATHS, singleThreadedWasm } from './wasm-paths.js';

singleThreadedWasm();
serveTrainingThread({ backend: { wasmPaths: WASM_PATHS } });
