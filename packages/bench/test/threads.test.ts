import { describe, expect, it } from 'vitest';
import { defaultThreads, threadWarnings } from '../src/threads.js';

describe('defaultThreads', () => {
  it('shares the cores out between the runs training at once (runs x threads <= cores)', () => {
    expect(defaultThreads(1, 8)).toBe(8); // mann train: one run, every core
    expect(defaultThreads(3, 8)).toBe(2);
    expect(defaultThreads(2, 2)).toBe(1); // mann bench on 2 cores: 2 runs, 1 thread each
    expect(defaultThreads(5, 2)).toBe(1); // never fewer than one
    expect(defaultThreads(0, 4)).toBe(4); // workers 0: runs in this process, one at a time
  });
});

describe('threadWarnings', () => {
  it('warns of threads beyond the cores or the batch, and of nothing else', () => {
    expect(threadWarnings(2, 16, 2)).toEqual([]);
    expect(threadWarnings(1, 1, 1)).toEqual([]);
    expect(threadWarnings(3, 16, 2)).toEqual([
      'warning: --threads 3 exceeds the 2 cores; the threads will compete for them and each step waits for the slowest',
    ]);
    expect(threadWarnings(8, 4, 8)).toEqual([
      'warning: --threads 8 exceeds the batch of 4 sequences; the run starts 4 threads, one per sequence (a thread more would never get a part of a batch)',
    ]);
    expect(threadWarnings(64, 16, 2)).toHaveLength(2);
  });
});
