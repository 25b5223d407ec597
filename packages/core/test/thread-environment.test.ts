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

  it('says an isolated browser page cannot run the threads yet', () => {
    const check = (): void => checkThreadEnvironment(3, browser(true));
    expect(check).toThrow(MannError);
    expect(check).toThrow(/^workers: 3 is not available in the browser yet/);
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
