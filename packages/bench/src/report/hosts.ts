/** Which machine ran each run, for runs that went through a queue (`mann bench --queue`). */

import type { ReportData } from './types.js';

/** One row per run that a queue worker ran: the run's id, model, seed and host. */
export interface HostRow {
  readonly runId: string;
  readonly task: string;
  readonly modelLabel: string;
  readonly seed: number;
  readonly host: string;
}

/** Rows of the runs with a known host, in the report's run order; empty for a local benchmark. */
export function hostRows(data: ReportData): HostRow[] {
  const hosts = data.hosts ?? {};
  return data.runs.flatMap((r) => {
    const host = hosts[r.id];
    return host === undefined
      ? []
      : [{ runId: r.id, task: r.task, modelLabel: r.modelLabel, seed: r.seed, host }];
  });
}

/** `a (3 runs), b (1 run)`: the hosts and how many runs each ran. */
export function hostCounts(rows: readonly HostRow[]): string {
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.host, (counts.get(row.host) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, n]) => `${host} (${n} run${n === 1 ? '' : 's'})`)
    .join(', ');
}
