// Public API of @mann/bench: the benchmark runner, suites, the results store and the report.
export { runBenchmark } from './bench.js';
export type { BenchmarkOptions, BenchmarkResult } from './bench.js';
export { QUICK_SUITE, PAPER_SUITE, REPRODUCE_SUITE, SUITES, builtinSuite } from './suites.js';
export {
  DEFAULT_TRAINING,
  expandSuite,
  loadSuiteFile,
  resolveTraining,
  runId,
  validateSuite,
  setName,
  checkStopCondition,
  checkCurriculumSpec,
  runCurriculum,
  STOP_METRICS,
} from './spec.js';
export type {
  ModelEntry,
  TaskEntry,
  TrainingOptions,
  SuiteOverride,
  SuiteSpec,
  RunSpec,
  GeneralisationSet,
  StopCondition,
  StopMetric,
  CurriculumSpec,
} from './spec.js';
export {
  executeRun,
  checkpointPath,
  commitCheckpoint,
  captureMemoryPicture,
  evaluationBatch,
} from './runner.js';
export { runGrid } from './pool.js';
export type { GridSummary, RunGridOptions } from './pool.js';
export type { RunEvent, ExecuteRunOptions, Convergence } from './runner.js';
export { ResultsStore } from './store.js';
export { suiteFileSchema } from './suite-schema.js';
export type { SuiteFile } from './suite-schema.js';
export { lockResultsDir, lockPath } from './lock.js';
export type { LockOwner, ResultsLock } from './lock.js';
export { collectReportData, describeMachine } from './collect.js';
export { registerBuiltins } from './builtins.js';
export { loadPlugins } from './plugins.js';
export { createProgress } from './progress.js';
export type { ProgressDisplay, ProgressFields } from './progress.js';
export { writeReport, buildHtml, buildMarkdown, buildMemoryPictureHtml } from './report/index.js';
export type {
  ReportData,
  RunRecord,
  CurvePoint,
  EvaluationRecord,
  MemoryPicture,
} from './report/types.js';
export { CONVERGENCE_BIT_ERRORS } from './report/types.js';
export { PERF_MODELS } from './perf/command.js';
