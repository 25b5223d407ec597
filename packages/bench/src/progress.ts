import cliProgress from 'cli-progress';

/** Live progress of several runs: bars on a terminal, periodic lines elsewhere (CI, pipes). */
export interface ProgressDisplay {
  start(id: string, label: string, total: number, from: number): void;
  update(id: string, value: number, fields: ProgressFields): void;
  finish(id: string, message: string): void;
  /** A line printed above the bars. */
  log(message: string): void;
  stop(): void;
}

/** What a bar shows besides the step count. */
export interface ProgressFields {
  readonly sequences: number;
  readonly sequencesPerSecond: number;
  readonly bitsPerSequence: number;
  readonly bitErrorsPerSequence: number | null;
}

const format = (f: ProgressFields): Record<string, string> => ({
  sequences: f.sequences.toLocaleString('en-US'),
  speed: f.sequencesPerSecond.toFixed(1),
  bits: Number.isFinite(f.bitsPerSequence)
    ? f.bitsPerSequence.toFixed(2)
    : String(f.bitsPerSequence),
  errors: f.bitErrorsPerSequence === null ? '-' : f.bitErrorsPerSequence.toFixed(2),
});

/**
 * Creates a display on `stream` (default stderr, so stdout stays free for results and --json).
 * `quiet` shows nothing but {@link ProgressDisplay.log} lines.
 */
export function createProgress(
  options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {},
): ProgressDisplay {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) {
    return {
      start() {},
      update() {},
      finish() {},
      log: (m) => void stream.write(`${m}\n`),
      stop() {},
    };
  }
  if (!stream.isTTY) return lineProgress(stream);
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      format:
        '{label} {bar} {percentage}% | step {value}/{total} | {sequences} seq | {speed} seq/s | {bits} bits | {errors} err | ETA {eta_formatted}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    start(id, label, total, from) {
      bars.set(
        id,
        multibar.create(total, from, {
          label: label.padEnd(28),
          sequences: '0',
          speed: '-',
          bits: '-',
          errors: '-',
        }),
      );
    },
    update(id, value, fields) {
      bars.get(id)?.update(value, format(fields));
    },
    finish(id, message) {
      const bar = bars.get(id);
      if (bar) {
        bar.stop();
        multibar.remove(bar);
        bars.delete(id);
      }
      multibar.log(`${message}\n`);
    },
    log(message) {
      multibar.log(`${message}\n`);
    },
    stop() {
      multibar.stop();
    },
  };
}

/** Without a terminal: one line per run at every 10% and when it ends. */
function lineProgress(stream: NodeJS.WriteStream): ProgressDisplay {
  const runs = new Map<
    string,
    { label: string; total: number; from: number; nextTenth: number; started: number }
  >();
  return {
    start(id, label, total, from) {
      runs.set(id, {
        label,
        total,
        from,
        nextTenth: Math.floor((from / total) * 10) + 1,
        started: Date.now(),
      });
      stream.write(`${label}: started at step ${from}/${total}\n`);
    },
    update(id, value, fields) {
      const run = runs.get(id);
      if (!run || value < (run.nextTenth * run.total) / 10) return;
      run.nextTenth = Math.floor((value / run.total) * 10) + 1;
      const f = format(fields);
      const elapsed = (Date.now() - run.started) / 1000;
      // The rate of this process only: steps done before a resume took no time here.
      const done = value - run.from;
      const eta = done > 0 ? Math.max(0, (elapsed / done) * (run.total - value)) : 0;
      stream.write(
        `${run.label}: step ${value}/${run.total} (${Math.round((100 * value) / run.total)}%) | ${f.sequences} seq | ${f.speed} seq/s | ${f.bits} bits | ${f.errors} err | ETA ${Math.round(eta)}s\n`,
      );
    },
    finish(id, message) {
      runs.delete(id);
      stream.write(`${message}\n`);
    },
    log(message) {
      stream.write(`${message}\n`);
    },
    stop() {},
  };
}
