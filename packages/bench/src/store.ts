import Database from 'better-sqlite3';
import { MannError } from '@mann/core';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CurvePoint, EvaluationRecord, MemoryPicture, RunRecord } from './report/types.js';
import type { RunSpec } from './spec.js';

const SCHEMA_VERSION = 3;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  suite TEXT NOT NULL,
  model_label TEXT NOT NULL,
  model_type TEXT NOT NULL,
  task TEXT NOT NULL,
  seed INTEGER NOT NULL,
  spec TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
  parameters INTEGER NOT NULL DEFAULT 0,
  sequence_budget INTEGER NOT NULL,
  sequences INTEGER NOT NULL DEFAULT 0,
  steps INTEGER NOT NULL DEFAULT 0,
  wall_ms REAL NOT NULL DEFAULT 0,
  backend TEXT NOT NULL DEFAULT '',
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL,
  converged_sequences INTEGER,
  converged_wall_ms REAL
);
CREATE TABLE IF NOT EXISTS curve (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('train', 'eval')),
  step INTEGER NOT NULL,
  sequences INTEGER NOT NULL,
  bits REAL NOT NULL,
  bit_errors REAL,
  wall_ms REAL NOT NULL,
  PRIMARY KEY (run_id, kind, step)
);
CREATE TABLE IF NOT EXISTS evaluations (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  set_name TEXT NOT NULL,
  x REAL,
  bits REAL NOT NULL,
  bit_errors REAL NOT NULL,
  accuracy REAL NOT NULL,
  scores TEXT,
  PRIMARY KEY (run_id, set_name)
);
CREATE TABLE IF NOT EXISTS pictures (
  run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS warnings (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  message TEXT NOT NULL,
  PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS errors (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  message TEXT NOT NULL,
  stack TEXT
);
CREATE TABLE IF NOT EXISTS hosts (
  run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  host TEXT NOT NULL
);
`;

interface RunRow {
  id: string;
  suite: string;
  model_label: string;
  model_type: string;
  task: string;
  seed: number;
  spec: string;
  status: RunRecord['status'];
  parameters: number;
  sequence_budget: number;
  sequences: number;
  steps: number;
  wall_ms: number;
  backend: string;
  error: string | null;
  converged_sequences: number | null;
  converged_wall_ms: number | null;
}

/**
 * Upgrades a database of an older schema in place: version 1 lacked the convergence of runs
 * that stop on their target (`converged_sequences`, `converged_wall_ms`, NULL for old runs),
 * version 2 the further scores of evaluations (`scores`, NULL for old evaluations).
 */
function migrate(db: Database.Database, from: number): void {
  if (from < 2) {
    db.exec('ALTER TABLE runs ADD COLUMN converged_sequences INTEGER');
    db.exec('ALTER TABLE runs ADD COLUMN converged_wall_ms REAL');
  }
  if (from < 3) db.exec('ALTER TABLE evaluations ADD COLUMN scores TEXT');
}

/**
 * The results database (SQLite, one file): runs, learning-curve points, evaluations, memory
 * pictures and errors. Writes are idempotent (keyed by run and step), so replaying the steps
 * after a checkpoint never counts a point twice. Only the benchmark's parent process writes.
 */
export class ResultsStore {
  private readonly db: Database.Database;

  /** Opens (or creates) the database; an error names the file and what went wrong. */
  constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      throw new MannError(
        `cannot create results directory ${dirname(path)}: ${(error as Error).message}`,
      );
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.exec(SCHEMA);
      const version = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as
        { value: string } | undefined;
      if (!version) {
        db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(
          'schema_version',
          String(SCHEMA_VERSION),
        );
      } else if (Number(version.value) < SCHEMA_VERSION) {
        const opened = db;
        opened.transaction(() => {
          migrate(opened, Number(version.value));
          opened
            .prepare('UPDATE meta SET value = ? WHERE key = ?')
            .run(String(SCHEMA_VERSION), 'schema_version');
        })();
      } else if (Number(version.value) !== SCHEMA_VERSION) {
        throw new MannError(
          `results database ${path} has schema version ${version.value}; this mann reads ${SCHEMA_VERSION}`,
        );
      }
    } catch (error) {
      db?.close();
      if (error instanceof MannError) throw error;
      throw new MannError(`results database ${path}: ${(error as Error).message}`);
    }
    this.db = db;
  }

  /** Adds runs that are not yet known (as pending); known runs keep their state. */
  addRuns(specs: readonly RunSpec[]): void {
    const insert = this.db.prepare(`INSERT OR IGNORE INTO runs
      (id, suite, model_label, model_type, task, seed, spec, status, sequence_budget, updated_at)
      VALUES (@id, @suite, @label, @type, @task, @seed, @spec, 'pending', @budget, @now)`);
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const s of specs) {
        insert.run({
          id: s.id,
          suite: s.suite,
          label: s.model.label,
          type: s.model.config.type,
          task: s.task.name,
          seed: s.seed,
          spec: JSON.stringify(s),
          budget: s.training.sequences,
          now,
        });
      }
    })();
  }

  /** The stored spec of a run. */
  spec(id: string): RunSpec | undefined {
    const row = this.db.prepare('SELECT spec FROM runs WHERE id = ?').get(id) as
      { spec: string } | undefined;
    return row ? (JSON.parse(row.spec) as RunSpec) : undefined;
  }

  /** Marks a run as running; drops curve points past `fromStep` (they are replayed exactly). */
  startRun(id: string, fields: { parameters: number; backend: string; fromStep: number }): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM curve WHERE run_id = ? AND step > ?').run(id, fields.fromStep);
      this.db
        .prepare(
          `UPDATE runs SET status = 'running', parameters = ?, backend = ?, error = NULL,
           attempts = attempts + 1, updated_at = ? WHERE id = ?`,
        )
        .run(fields.parameters, fields.backend, new Date().toISOString(), id);
    })();
  }

  /** Records progress (at checkpoints and at the end). */
  updateProgress(id: string, fields: { steps: number; sequences: number; wallMs: number }): void {
    this.db
      .prepare('UPDATE runs SET steps = ?, sequences = ?, wall_ms = ?, updated_at = ? WHERE id = ?')
      .run(fields.steps, fields.sequences, fields.wallMs, new Date().toISOString(), id);
  }

  /** Adds or replaces a learning-curve point. */
  addCurvePoint(p: CurvePoint): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO curve (run_id, kind, step, sequences, bits, bit_errors, wall_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        p.runId,
        p.kind,
        p.step,
        p.sequences,
        p.bitsPerSequence,
        p.bitErrorsPerSequence,
        p.wallMs,
      );
  }

  /** Adds or replaces a final evaluation. */
  addEvaluation(e: EvaluationRecord): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO evaluations (run_id, set_name, x, bits, bit_errors, accuracy, scores)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        e.runId,
        e.set,
        e.x,
        e.bitsPerSequence,
        e.bitErrorsPerSequence,
        e.sequenceAccuracy,
        e.scores ? JSON.stringify(e.scores) : null,
      );
  }

  /** Stores the memory picture of a run. */
  setPicture(p: MemoryPicture): void {
    this.db
      .prepare('INSERT OR REPLACE INTO pictures (run_id, data) VALUES (?, ?)')
      .run(p.runId, JSON.stringify(p));
  }

  /**
   * Marks a run done; `converged` records when a run that stops on its target met it (see
   * `TrainingOptions.stopAt`).
   */
  finishRun(
    id: string,
    fields: {
      steps: number;
      sequences: number;
      wallMs: number;
      converged?: { sequences: number; wallMs: number };
    },
  ): void {
    this.db
      .prepare(
        `UPDATE runs SET status = 'done', steps = ?, sequences = ?, wall_ms = ?, error = NULL,
         converged_sequences = ?, converged_wall_ms = ?, updated_at = ? WHERE id = ?`,
      )
      .run(
        fields.steps,
        fields.sequences,
        fields.wallMs,
        fields.converged?.sequences ?? null,
        fields.converged?.wallMs ?? null,
        new Date().toISOString(),
        id,
      );
  }

  /** Records the machine that ran (or is running) a run through the queue (`mann worker`). */
  setHost(id: string, host: string): void {
    this.db.prepare('INSERT OR REPLACE INTO hosts (run_id, host) VALUES (?, ?)').run(id, host);
  }

  /** Machines that ran the given runs through the queue; local runs have none. */
  hosts(runIds: readonly string[]): Record<string, string> {
    const statement = this.db.prepare('SELECT host FROM hosts WHERE run_id = ?');
    const hosts: Record<string, string> = {};
    for (const id of runIds) {
      const row = statement.get(id) as { host: string } | undefined;
      if (row) hosts[id] = row.host;
    }
    return hosts;
  }

  /** Marks a run failed and records the error. */
  failRun(id: string, message: string, stack?: string): void {
    const now = new Date().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE runs SET status = 'failed', error = ?, updated_at = ? WHERE id = ?`)
        .run(message, now, id);
      this.db
        .prepare('INSERT INTO errors (run_id, at, message, stack) VALUES (?, ?, ?, ?)')
        .run(id, now, message, stack ?? null);
    })();
  }

  /** Status and stored progress (updates) of one run, if the database knows it. */
  progressOf(id: string): { status: RunRecord['status']; steps: number } | undefined {
    return this.db.prepare('SELECT status, steps FROM runs WHERE id = ?').get(id) as
      { status: RunRecord['status']; steps: number } | undefined;
  }

  /**
   * Marks a run stopped by a signal: pending again (it resumes from its checkpoint), with
   * `message` as its error until it runs again.
   */
  interruptRun(id: string, message: string): void {
    this.db
      .prepare(`UPDATE runs SET status = 'pending', error = ?, updated_at = ? WHERE id = ?`)
      .run(message, new Date().toISOString(), id);
  }

  /** Runs left 'running' by a process that died become pending again (they resume). */
  recoverInterrupted(): number {
    return this.db.prepare(`UPDATE runs SET status = 'pending' WHERE status = 'running'`).run()
      .changes;
  }

  /** Runs, optionally of one suite, in a stable order. */
  runs(suite?: string): RunRecord[] {
    const rows = (
      suite
        ? this.db
            .prepare('SELECT * FROM runs WHERE suite = ? ORDER BY task, model_label, seed')
            .all(suite)
        : this.db.prepare('SELECT * FROM runs ORDER BY suite, task, model_label, seed').all()
    ) as RunRow[];
    return rows.map((r) => ({
      id: r.id,
      suite: r.suite,
      modelLabel: r.model_label,
      modelType: r.model_type,
      task: r.task,
      seed: r.seed,
      status: r.status,
      parameters: r.parameters,
      sequenceBudget: r.sequence_budget,
      sequences: r.sequences,
      steps: r.steps,
      wallMs: r.wall_ms,
      backend: r.backend,
      ...(r.error ? { error: r.error } : {}),
      ...(r.converged_sequences !== null && r.converged_wall_ms !== null
        ? { converged: { sequences: r.converged_sequences, wallMs: r.converged_wall_ms } }
        : {}),
      spec: JSON.parse(r.spec) as unknown,
    }));
  }

  /**
   * Wall time (ms) from the first of the given finished runs' start to the last one's end: the
   * end of a run is when it was last updated, its start that minus its training time (which
   * leaves out its set-up and final evaluations, so the span is a slight underestimate).
   * Undefined when none has finished.
   */
  runSpanMs(runIds: readonly string[]): number | undefined {
    const statement = this.db.prepare(
      "SELECT updated_at, wall_ms FROM runs WHERE id = ? AND status = 'done'",
    );
    let start = Number.POSITIVE_INFINITY;
    let end = Number.NEGATIVE_INFINITY;
    for (const id of runIds) {
      const row = statement.get(id) as { updated_at: string; wall_ms: number } | undefined;
      if (!row) continue;
      const finished = Date.parse(row.updated_at);
      start = Math.min(start, finished - row.wall_ms);
      end = Math.max(end, finished);
    }
    return Number.isFinite(start) ? end - start : undefined;
  }

  /** Learning-curve points of the given runs, ordered by run, kind and step. */
  curves(runIds: readonly string[]): CurvePoint[] {
    const statement = this.db.prepare('SELECT * FROM curve WHERE run_id = ? ORDER BY kind, step');
    return runIds.flatMap((id) =>
      (
        statement.all(id) as {
          run_id: string;
          kind: 'train' | 'eval';
          step: number;
          sequences: number;
          bits: number;
          bit_errors: number;
          wall_ms: number;
        }[]
      ).map((r) => ({
        runId: r.run_id,
        kind: r.kind,
        step: r.step,
        sequences: r.sequences,
        bitsPerSequence: r.bits,
        bitErrorsPerSequence: r.bit_errors,
        wallMs: r.wall_ms,
      })),
    );
  }

  /** Final evaluations of the given runs. */
  evaluations(runIds: readonly string[]): EvaluationRecord[] {
    const statement = this.db.prepare(
      'SELECT * FROM evaluations WHERE run_id = ? ORDER BY x, set_name',
    );
    return runIds.flatMap((id) =>
      (
        statement.all(id) as {
          run_id: string;
          set_name: string;
          x: number | null;
          bits: number;
          bit_errors: number;
          accuracy: number;
          scores: string | null;
        }[]
      ).map((r) => ({
        runId: r.run_id,
        set: r.set_name,
        x: r.x,
        bitsPerSequence: r.bits,
        bitErrorsPerSequence: r.bit_errors,
        sequenceAccuracy: r.accuracy,
        ...(r.scores ? { scores: JSON.parse(r.scores) as Record<string, number> } : {}),
      })),
    );
  }

  /** Memory pictures of the given runs. */
  pictures(runIds: readonly string[]): MemoryPicture[] {
    const statement = this.db.prepare('SELECT data FROM pictures WHERE run_id = ?');
    return runIds.flatMap((id) => {
      const row = statement.get(id) as { data: string } | undefined;
      return row ? [JSON.parse(row.data) as MemoryPicture] : [];
    });
  }

  /** Records a warning about a run (e.g. divergence); replaying the same step replaces it. */
  addWarning(id: string, step: number, message: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO warnings (run_id, step, message) VALUES (?, ?, ?)')
      .run(id, step, message);
  }

  /** Warnings about a run, by step. */
  warnings(runId: string): { step: number; message: string }[] {
    return this.db
      .prepare('SELECT step, message FROM warnings WHERE run_id = ? ORDER BY step')
      .all(runId) as { step: number; message: string }[];
  }

  /** Recorded errors of a run, oldest first. */
  errors(runId: string): { at: string; message: string; stack: string | null }[] {
    return this.db
      .prepare('SELECT at, message, stack FROM errors WHERE run_id = ? ORDER BY rowid')
      .all(runId) as {
      at: string;
      message: string;
      stack: string | null;
    }[];
  }

  close(): void {
    this.db.close();
  }
}
