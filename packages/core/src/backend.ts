import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { checkChoice } from './errors.js';

/** TF.js backends mann can run on, fastest first. `tensorflow` is `@tensorflow/tfjs-node`. */
export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
/** A backend name, or `auto` for the fastest that loads. */
export type BackendName = (typeof BACKENDS)[number];
/** Environment variable that overrides the automatic choice (`tensorflow`, `wasm`, `cpu`, `auto`). */
export const BACKEND_ENV_VAR = 'MANN_BACKEND';

/** Options of {@link selectBackend}. */
export interface SelectBackendOptions {
  /** Backend to use; `auto` (default) tries tensorflow, then wasm, then cpu. Overrides the env var. */
  readonly backend?: BackendName | 'auto';
  /** Receives one line saying which backend was chosen and why; default: silent. */
  readonly log?: (message: string) => void;
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

async function tryLoad(name: BackendName): Promise<void> {
  if (name === 'tensorflow') {
    // tfjs-node is optional: it cannot install where its native library cannot be downloaded,
    // and a half-installed copy throws on import (missing tfjs_binding.node), so only a
    // successful import counts.
    const moduleName = '@tensorflow/tfjs-node';
    await import(moduleName);
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

/**
 * Picks and activates the TF.js backend: `@tensorflow/tfjs-node` when installed and loadable,
 * else wasm, else cpu. `options.backend` or the `MANN_BACKEND` environment variable forces one
 * (an explicit choice that fails to load is an error, not a silent fallback). Idempotent.
 * Also puts TF.js in production mode, which silences its console banners.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendInfo> {
  const fromEnv = process.env[BACKEND_ENV_VAR];
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
  const candidates: BackendName[] = requested === 'auto' ? [...BACKENDS] : [requested];
  const skipped: { name: BackendName; reason: string }[] = [];
  for (const name of candidates) {
    try {
      await tryLoad(name);
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
