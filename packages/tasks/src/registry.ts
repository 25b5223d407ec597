import { MannError } from '@mann/core';
import type { SequenceBatch } from '@mann/core';
import type { BabiBatch } from './babi/encode.js';
import type { GraphBatch } from './graph/graph-task.js';
import { describeParams, resolveParams } from './params.js';
import type { Task, TaskDefinition } from './task.js';
import { associativeRecallTask } from './tasks/associative-recall.js';
import type { AssociativeRecallParams } from './tasks/associative-recall.js';
import { babiTask } from './tasks/babi.js';
import type { BabiParams } from './tasks/babi.js';
import { copyTask } from './tasks/copy.js';
import type { CopyParams } from './tasks/copy.js';
import { dynamicNgramTask } from './tasks/dynamic-ngrams.js';
import type { DynamicNgramBatch, DynamicNgramParams } from './tasks/dynamic-ngrams.js';
import { graphInferenceTask } from './tasks/graph-inference.js';
import type { GraphInferenceParams } from './tasks/graph-inference.js';
import { graphShortestPathTask } from './tasks/graph-shortest-path.js';
import type { GraphShortestPathParams } from './tasks/graph-shortest-path.js';
import { graphTraversalTask } from './tasks/graph-traversal.js';
import type { GraphTraversalParams } from './tasks/graph-traversal.js';
import { repeatCopyTask } from './tasks/repeat-copy.js';
import type { RepeatCopyParams } from './tasks/repeat-copy.js';
import { prioritySortTask } from './tasks/priority-sort.js';
import type { PrioritySortParams } from './tasks/priority-sort.js';

/** Params and batch type of every built-in task, by registry name (types `createTask`). */
export interface BuiltinTasks {
  copy: { params: CopyParams; batch: SequenceBatch };
  'repeat-copy': { params: RepeatCopyParams; batch: SequenceBatch };
  'associative-recall': { params: AssociativeRecallParams; batch: SequenceBatch };
  'dynamic-ngrams': { params: DynamicNgramParams; batch: DynamicNgramBatch };
  'priority-sort': { params: PrioritySortParams; batch: SequenceBatch };
  'graph-traversal': { params: GraphTraversalParams; batch: GraphBatch };
  'graph-shortest-path': { params: GraphShortestPathParams; batch: GraphBatch };
  'graph-inference': { params: GraphInferenceParams; batch: GraphBatch };
  babi: { params: BabiParams; batch: BabiBatch };
}

/** Registry names of the built-in tasks, in the papers' order. */
export const BUILTIN_TASK_NAMES: readonly (keyof BuiltinTasks)[] = [
  'copy',
  'repeat-copy',
  'associative-recall',
  'dynamic-ngrams',
  'priority-sort',
  'graph-traversal',
  'graph-shortest-path',
  'graph-inference',
  'babi',
];

const BUILTINS: readonly TaskDefinition[] = [
  copyTask,
  repeatCopyTask,
  associativeRecallTask,
  dynamicNgramTask,
  prioritySortTask,
  graphTraversalTask,
  graphShortestPathTask,
  graphInferenceTask,
  babiTask,
];

const registry = new Map<string, TaskDefinition>(BUILTINS.map((d) => [d.name, d]));

/**
 * Adds a task family under `definition.name` (lower-case letters, digits and dashes).
 *
 * @throws MannError if the name is taken or malformed, or the defaults do not fit the specs.
 */
export function registerTask<P extends object, B extends SequenceBatch>(
  definition: TaskDefinition<P, B>,
): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(definition.name)) {
    throw new MannError(
      `task name must be lower-case letters, digits and dashes, got '${definition.name}'`,
    );
  }
  if (registry.has(definition.name)) {
    throw new MannError(`a task named '${definition.name}' is already registered`);
  }
  registry.set(definition.name, definition as unknown as TaskDefinition);
}

/** Removes a task added with {@link registerTask}; built-in tasks cannot be removed. */
export function unregisterTask(name: string): boolean {
  if (BUILTINS.some((d) => d.name === name)) {
    throw new MannError(`'${name}' is a built-in task and cannot be unregistered`);
  }
  return registry.delete(name);
}

/** The definition registered as `name`. @throws MannError listing the registered names. */
export function getTaskDefinition(name: string): TaskDefinition {
  const definition = registry.get(name);
  if (!definition) {
    throw new MannError(`unknown task '${name}'; registered tasks: ${listTasks().join(', ')}`);
  }
  return definition;
}

/** Registered task names: the built-ins in order, then others in registration order. */
export function listTasks(): string[] {
  return [...registry.keys()];
}

/** `name` with its description and every parameter's range and default, for `--help` output. */
export function describeTask(name: string): string {
  const definition = getTaskDefinition(name);
  const variants = Object.keys(definition.variants);
  return [
    `${definition.name}: ${definition.description}`,
    describeParams(definition.paramSpecs, definition.defaults),
    `  generalisation variants: ${variants.length ? variants.join(', ') : '(none)'}`,
  ].join('\n');
}

/**
 * Creates the task registered as `name` with `overrides` on top of its defaults. Overrides may be
 * typed values or strings as a command line gives them (see {@link parseOverrides}); strings are
 * parsed to each parameter's type.
 *
 * @throws MannError for an unknown task (listing the registered ones), an unknown key (listing the
 *   valid keys with ranges and defaults), or a bad value (naming key, value and accepted range).
 */
export function createTask<N extends keyof BuiltinTasks>(
  name: N,
  overrides?: Partial<BuiltinTasks[N]['params']> | Readonly<Record<string, string>>,
): Task<BuiltinTasks[N]['params'], BuiltinTasks[N]['batch']>;
export function createTask(name: string, overrides?: Readonly<Record<string, unknown>>): Task;
export function createTask(name: string, overrides: Readonly<Record<string, unknown>> = {}): Task {
  const definition = getTaskDefinition(name);
  const params = resolveParams(
    definition.name,
    definition.paramSpecs,
    definition.defaults,
    overrides,
  );
  return definition.create(params);
}
