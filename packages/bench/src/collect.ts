import { cpus } from 'node:os';
import type { ReportData } from './report/types.js';
import type { ResultsStore } from './store.js';

/** A one-line description of this machine for reports. */
export function describeMachine(): string {
  const cores = cpus();
  return `${cores.length} x ${cores[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** Everything the report of `suite` (or of every run) shows, read from the results database. */
export function collectReportData(store: ResultsStore, suite?: string): ReportData {
  const runs = store.runs(suite);
  const ids = runs.map((r) => r.id);
  const backends = [...new Set(runs.map((r) => r.backend).filter((b) => b))];
  return {
    title: suite ? `mann benchmark: ${suite}` : 'mann benchmark',
    generatedAt: new Date().toISOString(),
    backend: backends.join(', ') || 'unknown',
    machine: describeMachine(),
    runs,
    curves: store.curves(ids),
    evaluations: store.evaluations(ids),
    pictures: store.pictures(ids),
    hosts: store.hosts(ids),
  };
}
