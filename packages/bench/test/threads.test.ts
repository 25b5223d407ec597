import { describe, expect, it } from 'vitest';
import { defaultThreads } from '../src/threads.js';

describe('defaultThreads', () => {
  it('shares the cores out between the runs training at once (runs x threads <= cores)', () => {
    expect(defaultThreads(1, 8)).toBe(8); // mann train: one run, every core
    expect(defaultThreads(3, 8)).toBe(2);
    expect(defaultThreads(2, 2)).toBe(1); // mann bench on 2 cores: 2 runs, 1 thread each
    expect(defaultThreads(5, 2)).toBe(1); // never fewer than one
    expect(defaultThreads(0, 4)).toBe(4); // workers 0: runs in this process, one at a time
  });
});
