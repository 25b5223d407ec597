import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** Where the bundled page serves TF.js's wasm binaries, for `selectBackend({ wasmPaths })`. */
export const WASM_PATHS: Readonly<Record<string, string>> = {
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};

/**
 * Keeps TF.js's wasm backend on its single-threaded binaries. The page is cross-origin isolated
 * (vite.config.ts), where the backend would otherwise pick its threaded build, whose pthread
 * workers do not start from the bundle (`ReferenceError: e is not defined`). Call before
 * `selectBackend`.
 */
export function singleThreadedWasm(): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
}
