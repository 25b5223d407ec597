/**
 * A task's summary as a table of formatted cells, printed by both the HTML and the Markdown
 * report so they show the same text.
 */

import { formatCount, formatDuration, formatNumber, formatSpread, MISSING } from './format.js';
import type { ConvergenceSummary, TaskSummary } from './summary.js';
import { CONVERGENCE_BIT_ERRORS } from './types.js';

/** A column heading and how its cells align. */
export interface Column {
  readonly title: string;
  readonly align: 'left' | 'right';
}

/** Formatted table of one task: `rows[i][j]` is the cell of model i in column j. */
export interface SummaryTable {
  readonly columns: readonly Column[];
  readonly rows: readonly (readonly string[])[];
}

/** How the table's numbers were computed, printed under each table. */
export const TABLE_NOTE =
  `Sequences to convergence: sequences seen at the first evaluation with fewer than ` +
  `${CONVERGENCE_BIT_ERRORS} bit errors per sequence (for a run that stops on its own target, ` +
  `training.stopAt, the evaluation that met it), median over the seeds that converged ` +
  `(converged / finished seeds in brackets); time to convergence: training wall time then, ` +
  `median over the same seeds. Other values: mean ± sample standard deviation ` +
  `over finished seeds; cost and bit errors per sequence on the final evaluation of the ` +
  `training distribution; wall time per run.`;

/** The table of `summary`: one row per model, one column per generalisation set. */
export function summaryTable(summary: TaskSummary): SummaryTable {
  const columns: Column[] = [
    { title: 'Model', align: 'left' },
    { title: 'Parameters', align: 'right' },
    { title: 'Seeds done', align: 'right' },
    { title: 'Sequences to convergence', align: 'right' },
    { title: 'Time to convergence', align: 'right' },
    { title: 'Final cost (bits/seq)', align: 'right' },
    { title: 'Final bit errors/seq', align: 'right' },
    ...summary.generalisationSets.map(({ set }) => ({
      title: `${set} bit errors/seq`,
      align: 'right' as const,
    })),
    { title: 'Wall time', align: 'right' },
    { title: 'Sequences/s', align: 'right' },
  ];
  const rows = summary.models.map((model) => [
    model.modelLabel === model.modelType
      ? model.modelLabel
      : `${model.modelLabel} (${model.modelType})`,
    formatCount(model.parameters),
    `${model.seedsDone}/${model.seedsTotal}`,
    formatConvergence(model.convergence),
    model.convergence.medianWallMs === null
      ? MISSING
      : formatDuration(model.convergence.medianWallMs),
    formatSpread(model.finalCost),
    formatSpread(model.finalBitErrors),
    ...summary.generalisationSets.map(({ set }) =>
      formatSpread(model.generalisation.find((g) => g.set === set)?.bitErrors ?? null),
    ),
    model.wallMs === null ? MISSING : formatDuration(model.wallMs.mean),
    model.sequencesPerSecond === null ? MISSING : formatNumber(model.sequencesPerSecond.mean),
  ]);
  return { columns, rows };
}

/** `12,800 (2/2)`, `not reached (0/2)`, or the missing mark when no seed has finished. */
export function formatConvergence(convergence: ConvergenceSummary): string {
  if (convergence.seeds === 0) return MISSING;
  const count = `(${convergence.converged}/${convergence.seeds})`;
  return convergence.medianSequences === null
    ? `not reached ${count}`
    : `${formatCount(convergence.medianSequences)} ${count}`;
}
