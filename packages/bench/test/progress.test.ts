// The progress lines shown without a terminal (CI, pipes): the ETA of a resumed run counts only
// the steps this process has done.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgress } from '../src/progress.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** A non-TTY stream that keeps what is written. */
function capture(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.trim().split('\n') };
}

const fields = {
  sequences: 960,
  sequencesPerSecond: 16,
  bitsPerSequence: 1,
  bitErrorsPerSequence: null,
};

describe('line progress', () => {
  it('the ETA after a resume uses the rate since the resume', () => {
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const { stream, lines } = capture();
    const progress = createProgress({ stream });
    progress.start('r', 'copy/lstm/s1', 100, 50); // resumed at step 50
    now += 10_000; // 10 steps in 10 s: 40 steps left take 40 s
    progress.update('r', 60, fields);
    expect(lines()).toEqual([
      'copy/lstm/s1: started at step 50/100',
      'copy/lstm/s1: step 60/100 (60%) | 960 seq | 16.0 seq/s | 1.00 bits | - err | ETA 40s',
    ]);
  });

  it('from the start, the ETA is elapsed / steps x steps left', () => {
    let now = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const { stream, lines } = capture();
    const progress = createProgress({ stream });
    progress.start('r', 'x', 100, 0);
    now += 20_000;
    progress.update('r', 10, fields);
    expect(lines()[1]).toMatch(/\| ETA 180s$/);
  });
});
