import { describe, expect, it } from 'vitest';
import { MannError } from '@mann/core';
import {
  checkThreadEnvironment,
  currentThreadEnvironment,
} from '../src/training/thread-environment.js';

describe('checkThreadEnvironment', () => {
  const browser = (isolated: boolean | undefined) => ({
    node: false,
    crossOriginIsolated: isolated,
  });

  it('lets one thread run anywhere and several in Node', () => {
    for (const env of [browser(false), browser(true), browser(undefined)]) {
      expect(() => checkThreadEnvironment(1, env)).not.toThrow();
    }
    expect(() =>
      checkThreadEnvironment(4, { node: true, crossOriginIsolated: undefined }),
    ).not.toThrow();
    expect(() =>
      checkThreadEnvironment(4, { node: true, crossOriginIsolated: false }),
    ).not.toThrow();
  });

  it('names workers and the isolation headers on a page that is not cross-origin isolated', () => {
    for (const isolated of [false, undefined]) {
      const check = (): void => checkThreadEnvironment(2, browser(isolated));
      expect(check).toThrow(MannError);
      expect(check).toThrow(/^workers: 2 needs SharedArrayBuffer/);
      expect(check).toThrow(`crossOriginIsolated is ${String(isolated)}`);
      expect(check).toThrow(/Cross-Origin-Opener-Policy: same-origin/);
      expect(check).toThrow(/Cross-Origin-Embedder-Policy: require-corp/);
      expect(check).toThrow(/or train with workers: 1$/);
    }
  });

  it('on an isolated page, needs the trainer in a Web Worker, then a workerScript', () => {
    const page = (): void => checkThreadEnvironment(3, browser(true), () => undefined);
    expect(page).toThrow(MannError);
    expect(page).toThrow(/^workers: 3 needs the Trainer to run in a Web Worker/);
    expect(page).toThrow(/Atomics\.wait, which a page's main thread may not call/);
    const inWorker = { node: false, crossOriginIsolated: true, worker: true };
    const noScript = (): void => checkThreadEnvironment(2, inWorker);
    expect(noScript).toThrow(MannError);
    expect(noScript).toThrow(/^workers: 2 in a browser needs workerScript/);
    expect(noScript).toThrow(/calls serveTrainingThread\(\)/);
    expect(() => checkThreadEnvironment(2, inWorker, 'thread.js')).not.toThrow();
    // a worker that is not isolated still hears about the headers first
    expect(() =>
      checkThreadEnvironment(2, { ...inWorker, crossOriginIsolated: false }, 'thread.js'),
    ).toThrow(/Cross-Origin-Embedder-Policy: require-corp/);
  });

  it('sees Node here, and a non-isolated page when Node is hidden', () => {
    expect(currentThreadEnvironment()).toEqual({ node: true, crossOriginIsolated: undefined });
    const scope = globalThis as { crossOriginIsolated?: unknown };
    const getBuiltin = process.getBuiltinModule;
    try {
      (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
      scope.crossOriginIsolated = false;
      expect(currentThreadEnvironment()).toEqual({ node: false, crossOriginIsolated: false });
      expect(() => checkThreadEnvironment(2)).toThrow(/cross-origin isolated/);
    } finally {
      process.getBuiltinModule = getBuiltin;
      delete scope.crossOriginIsolated;
    }
  });
});
