// The resident memory training threads add, measured as issue 16 words it: a process that trains
// one model on N threads against one that trains it on 1 thread, each a fresh process (this
// module is its script when run with a request argument). Measuring inside `mann perf`'s own
// process would also count what its main thread allocates for its contenders.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MannError, selectBackend, type BackendName } from '@mann/core';
import { registerBuiltins, threadModules } from '../builtins.js';
import { loadPlugins } from '../plugins.js';
import { median, modelContender, perfBatch } from './measure.js';

/** What a probe process is asked to do (its one command-line argument, as JSON). */
export interface ProbeRequest {
  readonly config: Record<string, unknown> & { type: string };
  readonly workers: number;
  readonly steps: number;
  readonly backend: BackendName;
  readonly plugins: readonly string[];
}

/** What a probe process measured after its steps, MB. */
export interface ProbeResult {
  /** Resident set size at the end. */
  readonly rssMb: number;
  /**
   * Peak resident set size of the whole run (the process's high-water mark: `VmHWM` on Linux,
   * else `maxRSS`).
   */
  readonly peakRssMb: number;
}

/** One model's resident memory on 1 thread and on N threads (fresh processes, in pairs). */
export interface ThreadMemory {
  readonly label: string;
  readonly threads: number;
  /** Each pair of probes: 1 thread, then N threads. */
  readonly pairs: readonly { readonly oneThread: ProbeResult; readonly manyThreads: ProbeResult }[];
  /** Each pair's (peak on N threads - peak on 1 thread) / (N - 1), MB. */
  readonly extraMb: readonly number[];
  /** The median of `extraMb`: what each extra thread adds, MB. */
  readonly mbPerExtraThread: number;
}

/** Training steps each probe runs: the threads' first steps compile their code, then it settles. */
export const PROBE_STEPS = 6;

/**
 * Pairs of probes per model: a peak RSS moves by up to ~40 MB between identical runs (when the
 * collector last ran), so one pair alone can mislead; the median of three resists one outlier.
 */
export const PROBE_PAIRS = 3;

/** Starts the probe's error line (its stderr may also carry TF.js warnings). */
const ERROR_MARK = 'memory probe error: ';

const mb = (bytes: number): number => bytes / 2 ** 20;

/**
 * This process's peak resident set size, MB. On Linux `VmHWM` of /proc/self/status, which starts
 * afresh at exec: `getrusage`'s maxRSS there is at least the parent's RSS when it forked the
 * process, so under a large parent (`mann perf` itself) every probe read the same.
 */
function peakResidentMb(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // no /proc: not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** The compiled probe script (from the TypeScript sources, its copy in `dist/`). */
function probeScript(): string {
  const here = import.meta.url.endsWith('.ts')
    ? import.meta.url.replace(/\/src\/perf\/memory-probe\.ts$/, '/dist/perf/memory-probe.js')
    : import.meta.url;
  return fileURLToPath(here);
}

/** Runs one probe process; rejects with its error output when it fails. */
export function runProbe(request: ProbeRequest): Promise<ProbeResult> {
  const child = spawn(process.execPath, [probeScript(), JSON.stringify(request)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const what = `the memory probe (${request.config.type}, ${request.workers} thread${request.workers === 1 ? '' : 's'})`;
      if (code !== 0) {
        const lines = stderr.trim().split('\n');
        const marked = lines.find((line) => line.startsWith(ERROR_MARK));
        const detail = marked?.slice(ERROR_MARK.length) ?? (lines.at(-1) || 'no error output');
        reject(new MannError(`${what} failed (${signal ?? `exit code ${code}`}): ${detail}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as ProbeResult);
      } catch {
        reject(new MannError(`${what} printed no result: ${JSON.stringify(stdout.slice(0, 200))}`));
      }
    });
  });
}

/**
 * For each model, the peak resident memory of a fresh process training it for
 * {@link PROBE_STEPS} steps of the perf workload with 1 thread and with `threads` threads
 * ({@link PROBE_PAIRS} times, one process after the other, never two at once), and what each
 * extra thread adds.
 */
export async function measureThreadMemory(
  models: readonly { label: string; config: Record<string, unknown> & { type: string } }[],
  options: {
    threads: number;
    backend: BackendName;
    plugins: readonly string[];
    onProgress?: (message: string) => void;
  },
): Promise<ThreadMemory[]> {
  const extra = Math.max(1, options.threads - 1);
  const out: ThreadMemory[] = [];
  for (const m of models) {
    const probe = (workers: number): Promise<ProbeResult> => {
      options.onProgress?.(`perf: resident memory of ${m.config.type} on ${workers} thread(s)`);
      return runProbe({
        config: m.config,
        workers,
        steps: PROBE_STEPS,
        backend: options.backend,
        plugins: options.plugins,
      });
    };
    const pairs: ThreadMemory['pairs'][number][] = [];
    for (let p = 0; p < PROBE_PAIRS; p++) {
      const oneThread = await probe(1);
      pairs.push({ oneThread, manyThreads: await probe(options.threads) });
    }
    const extraMb = pairs.map((p) => (p.manyThreads.peakRssMb - p.oneThread.peakRssMb) / extra);
    out.push({
      label: m.label,
      threads: options.threads,
      pairs,
      extraMb,
      mbPerExtraThread: median(extraMb),
    });
  }
  return out;
}

/** The probe process: trains the requested model and prints what it measured as JSON. */
async function probeMain(request: ProbeRequest): Promise<void> {
  await selectBackend({ backend: request.backend });
  registerBuiltins();
  await loadPlugins(request.plugins);
  const contender = modelContender(request.config.type, request.config, perfBatch(), {
    workers: request.workers,
    workerModules: threadModules(request.plugins),
  });
  try {
    for (let i = 0; i < request.steps; i++) await contender.step();
    const result: ProbeResult = {
      rssMb: mb(process.memoryUsage().rss),
      peakRssMb: peakResidentMb(),
    };
    process.stdout.write(JSON.stringify(result));
  } finally {
    contender.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2]) {
  probeMain(JSON.parse(process.argv[2]) as ProbeRequest).then(
    () => process.exit(0),
    (error: unknown) => {
      // One marked line, which runProbe's error quotes; the stack only on request (as the CLI).
      const stack = process.env.MANN_DEBUG && error instanceof Error ? `\n${error.stack}` : '';
      process.stderr.write(
        `${ERROR_MARK}${error instanceof Error ? error.message : String(error)}${stack}\n`,
      );
      process.exit(1);
    },
  );
}
