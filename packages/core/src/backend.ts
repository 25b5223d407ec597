import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { checkChoice } from './errors.js';

/**
 * TF.js backends mann can run on. `tensorflow` is `@tensorflow/tfjs-node` (Node only); `webgpu`
 * and `webgl` run in a browser (webgpu only where the page has imported
 * `@tensorflow/tfjs-backend-webgpu` and the browser has WebGPU).
 */
export const BACKENDS = ['tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
/** A backend name, or `auto` for the fastest that loads. */
export type BackendName = (typeof BACKENDS)[number];
/** The order `auto` tries in Node: tfjs-node, then wasm, then cpu. */
export const NODE_BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];
/** The order `auto` tries in a browser or Web Worker: webgpu, then webgl, then wasm, then cpu. */
export const BROWSER_BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
/**
 * Environment variable that overrides the automatic choice in Node (`tensorflow`, `wasm`, `cpu`,
 * `auto`, ...). A browser has no environment: there only the `backend` option counts.
 */
export const BACKEND_ENV_VAR = 'MANN_BACKEND';

/** Options of {@link selectBackend}. */
export interface SelectBackendOptions {
  /**
   * Backend to use; `auto` (default) tries {@link NODE_BACKENDS} in Node and
   * {@link BROWSER_BACKENDS} elsewhere. Overrides the environment variable.
   */
  readonly backend?: BackendName | 'auto';
  /** Receives one line saying which backend was chosen and why; default: silent. */
  readonly log?: (message: string) => void;
  /**
   * Where the wasm backend finds its `.wasm` files, for bundled pages that serve them from a path
   * of their own (passed to `setWasmPaths` of `@tensorflow/tfjs-backend-wasm`); default: beside
   * the package, as Node and most bundlers resolve it.
   */
  readonly wasmPaths?: string | Readonly<Record<string, string>>;
}

/** Whether this is Node (as opposed to a browser page or a Web Worker). */
export function isNode(): boolean {
  return typeof globalThis.process?.versions?.node === 'string';
}

/** What {@link selectBackend} chose. */
export interface BackendInfo {
  /** The active backend. */
  readonly name: BackendName;
  /** What was asked for (`auto` unless overridden by option or environment). */
  readonly requested: BackendName | 'auto';
  /** Where the request came from. */
  readonly source: 'option' | 'environment' | 'default';
  /** Backends tried before this one, with the reason each failed. */
  readonly skipped: readonly { readonly name: BackendName; readonly reason: string }[];
}

let current: BackendInfo | undefined;

async function tryLoad(name: BackendName, options: SelectBackendOptions): Promise<void> {
  if (name === 'tensorflow') {
    if (!isNode()) throw new Error('@tensorflow/tfjs-node runs only in Node');
    // tfjs-node is optional: it cannot install where its native library cannot be downloaded,
    // and a half-installed copy throws on import (missing tfjs_binding.node), so only a
    // successful import counts.
    const moduleName = '@tensorflow/tfjs-node';
    await import(/* @vite-ignore */ moduleName);
  }
  if (name === 'webgpu') {
    if (!tf.findBackendFactory('webgpu')) {
      throw new Error("not registered: import '@tensorflow/tfjs-backend-webgpu' to use it");
    }
    const gpu = (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
    if (gpu === undefined) throw new Error('this environment has no WebGPU (navigator.gpu)');
  }
  if (name === 'webgl' && isNode()) throw new Error('WebGL needs a browser');
  if (name === 'wasm' && options.wasmPaths !== undefined) {
    setWasmPaths(options.wasmPaths as string | Record<string, string>);
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

/**
 * Picks and activates the TF.js backend. In Node: `@tensorflow/tfjs-node` when installed and
 * loadable, else wasm, else cpu. In a browser or Web Worker: webgpu (where registered and
 * available), else webgl, else wasm, else cpu; nothing reads `process` there.
 * `options.backend` or (in Node) the `MANN_BACKEND` environment variable forces one (an explicit
 * choice that fails to load is an error, not a silent fallback). Idempotent. Also puts TF.js in
 * production mode, which silences its console banners.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendInfo> {
  const fromEnv = isNode() ? globalThis.process.env[BACKEND_ENV_VAR] || undefined : undefined;
  const source = options.backend ? 'option' : fromEnv ? 'environment' : 'default';
  const requested = checkChoice(
    source === 'environment' ? BACKEND_ENV_VAR : 'backend',
    options.backend ?? fromEnv ?? 'auto',
    [...BACKENDS, 'auto'] as const,
  );
  if (current && (requested === 'auto' || requested === current.name)) {
    options.log?.(describeBackend(current));
    return current;
  }
  tf.enableProdMode();
  const order = isNode() ? NODE_BACKENDS : BROWSER_BACKENDS;
  const candidates: BackendName[] = requested === 'auto' ? [...order] : [requested];
  const skipped: { name: BackendName; reason: string }[] = [];
  for (const name of candidates) {
    try {
      await tryLoad(name, options);
      current = { name, requested, source, skipped };
      options.log?.(describeBackend(current));
      return current;
    } catch (error) {
      const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      if (requested !== 'auto') {
        throw new Error(`backend '${name}' (from ${source}) failed to load: ${reason}`, {
          cause: error,
        });
      }
      skipped.push({ name, reason });
    }
  }
  throw new Error(
    `no TF.js backend loaded: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
  );
}

/** The backend chosen by the last {@link selectBackend}, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

/** One line for logs: `backend: wasm (auto; tensorflow unavailable: Cannot find module ...)`. */
export function describeBackend(info: BackendInfo): string {
  const why = info.skipped.map((s) => `${s.name} unavailable: ${s.reason}`).join('; ');
  return `backend: ${info.name} (${info.source === 'default' ? 'auto' : `${info.requested} from ${info.source}`}${why ? `; ${why}` : ''})`;
}
