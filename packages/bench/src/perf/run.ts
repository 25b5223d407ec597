// The data of a `mann perf` run (what `--json` prints), shared by the command and its report.
import type { PerfResult } from './measure.js';
import type { ThreadMemory } from './memory-probe.js';

/**
 * `value` with `digits` decimals, or more when those would round a value below `target` up to
 * it (1.6996 against 1.7 prints 1.6996, not 1.70 next to "NOT met").
 */
export function formatAgainst(value: number, target: number, digits = 2): string {
  let shown = value.toFixed(digits);
  for (let d = digits + 1; value < target && Number(shown) >= target && d <= digits + 4; d++) {
    shown = value.toFixed(d);
  }
  return shown;
}

/** Resident memory each extra training thread may add (issue 16), MB. */
export const THREAD_MEMORY_TARGET_MB = 100;

/** One model's 1-thread and N-thread figures side by side. */
export interface ThreadComparison {
  readonly label: string;
  readonly threads: number;
  readonly oneThread: PerfResult;
  readonly manyThreads: PerfResult;
  /** N-thread sequences/s over 1-thread sequences/s. */
  readonly speedup: number;
  /**
   * CPU time per step on 1 thread over CPU time per step on N threads (1: the threads add no
   * work). N times this is the speed-up N otherwise idle cores would give.
   */
  readonly workEfficiency: number;
  /** Targets with 2 threads (only judged when `threads` is 2). */
  readonly speedupTarget: number;
  readonly ratioToPeerTarget: number;
}

/** One model trained by mann's Trainer and as a layer under `model.fit`. */
export interface LayersRow {
  readonly model: string;
  readonly trainer: PerfResult;
  readonly layers: PerfResult;
  /** layers sequences/s over trainer sequences/s. */
  readonly ratio: number;
  readonly target: number;
}

/** One model and memory size of `--scale`. */
export interface ScaleRow {
  readonly model: string;
  readonly slots: number;
  readonly msPerStep: number | null;
  readonly skipped?: string;
}

/** One whole `mann perf` measurement: what `--json` prints for one run. */
export interface PerfRun {
  /** When the run started and ended (ISO 8601, UTC). */
  readonly startedAt: string;
  readonly endedAt: string;
  readonly backend: string;
  readonly machine: string;
  readonly workload: string;
  readonly repeats: number;
  readonly warmup: number;
  /** The peer first, then {@link PERF_MODELS} with their targets against it (null: the peer). */
  readonly results: readonly (PerfResult & { readonly target: number | null })[];
  readonly threads: {
    readonly count: number;
    readonly warmup: number;
    readonly models: readonly ThreadComparison[];
    /** The yardstick: independent SIMD products on `count` threads against 1. */
    readonly machineSpeedup: number;
    readonly machineMsPerStep: { readonly one: number; readonly many: number };
    readonly residentMbPerExtraThread: number | null;
    readonly memory: readonly ThreadMemory[];
  };
  readonly peakRssMb: number;
  readonly scale?: readonly ScaleRow[];
  readonly layers?: readonly LayersRow[];
}
