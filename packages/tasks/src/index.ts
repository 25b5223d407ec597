// Public API of @mann/tasks.
export { defineTask, MAX_BATCH_SIZE } from './task.js';
export type { Task, TaskDefinition, TaskScores, TaskBehaviour, TaskRecipe } from './task.js';
export {
  parseOverrides,
  resolveParams,
  describeSpec,
  describeParams,
  intParam,
  numberParam,
  booleanParam,
  stringParam,
  choiceParam,
} from './params.js';
export type {
  ParamSpec,
  ParamSpecs,
  IntParamSpec,
  NumberParamSpec,
  BooleanParamSpec,
  StringParamSpec,
  ChoiceParamSpec,
} from './params.js';
export {
  BUILTIN_TASK_NAMES,
  registerTask,
  unregisterTask,
  getTaskDefinition,
  listTasks,
  describeTask,
  createTask,
} from './registry.js';
export type { BuiltinTasks } from './registry.js';
export {
  DEFAULT_CURRICULUM_THRESHOLD,
  DEFAULT_CURRICULUM_WINDOW,
  noCurriculum,
  incrementalCurriculum,
  mixedCurriculum,
  curriculumLevels,
} from './curriculum.js';
export type {
  Curriculum,
  CurriculumKind,
  CurriculumState,
  CurriculumOptions,
  CurriculumRange,
  MixedCurriculumOptions,
} from './curriculum.js';

// Tasks of the NTM paper.
export { copyTask, DEFAULT_COPY_PARAMS, COPY_GENERALISATION_LENGTHS } from './tasks/copy.js';
export type { CopyParams } from './tasks/copy.js';
export {
  repeatCopyTask,
  DEFAULT_REPEAT_COPY_PARAMS,
  repeatCountScale,
  encodeRepeatCount,
} from './tasks/repeat-copy.js';
export type { RepeatCopyParams, RepeatCountScale } from './tasks/repeat-copy.js';
export {
  associativeRecallTask,
  DEFAULT_ASSOCIATIVE_RECALL_PARAMS,
  ASSOCIATIVE_RECALL_GENERALISATION_ITEMS,
} from './tasks/associative-recall.js';
export type { AssociativeRecallParams } from './tasks/associative-recall.js';
export {
  dynamicNgramTask,
  DEFAULT_DYNAMIC_NGRAM_PARAMS,
  DYNAMIC_NGRAM_GENERALISATION_LENGTHS,
  bayesOptimalNgram,
  contextIndex,
} from './tasks/dynamic-ngrams.js';
export type { DynamicNgramParams, DynamicNgramBatch } from './tasks/dynamic-ngrams.js';
export { prioritySortTask, DEFAULT_PRIORITY_SORT_PARAMS } from './tasks/priority-sort.js';
export type { PrioritySortParams } from './tasks/priority-sort.js';

// Graph tasks of the DNC paper.
export { DEFAULT_GRAPH_PARAMS, GRAPH_PARAM_SPECS, decodeAnswer } from './graph/graph-task.js';
export type {
  GraphParams,
  GraphBatch,
  GraphEpisode,
  QueryStep,
  DecodedEdge,
} from './graph/graph-task.js';
export {
  DIGIT_BASE,
  GRAPH_FLAG_CHANNELS,
  fieldWidth,
  tripleWidth,
  encodeTriple,
  decodeTriple,
} from './graph/encoding.js';
export type { Triple } from './graph/encoding.js';
export {
  randomGraph,
  followEdge,
  findEdge,
  bfsDistances,
  randomShortestPath,
} from './graph/random-graph.js';
export type { RandomGraph, GraphEdge } from './graph/random-graph.js';
export { graphTraversalTask, DEFAULT_GRAPH_TRAVERSAL_PARAMS } from './tasks/graph-traversal.js';
export type { GraphTraversalParams } from './tasks/graph-traversal.js';
export {
  graphShortestPathTask,
  DEFAULT_GRAPH_SHORTEST_PATH_PARAMS,
  isShortestPath,
} from './tasks/graph-shortest-path.js';
export type { GraphShortestPathParams } from './tasks/graph-shortest-path.js';
export {
  graphInferenceTask,
  DEFAULT_GRAPH_INFERENCE_PARAMS,
  relationChain,
} from './tasks/graph-inference.js';
export type { GraphInferenceParams } from './tasks/graph-inference.js';

// bAbI.
export { babiTask, DEFAULT_BABI_PARAMS, parseBabiTaskList } from './tasks/babi.js';
export type { BabiParams } from './tasks/babi.js';
export { BABI_TASK_NAMES, BABI_TASKS, babiFileName, parseBabi, tokenize } from './babi/format.js';
export type { BabiSplit, BabiStory, BabiStatement, BabiQuestion } from './babi/format.js';
export { ANSWER_MARKER, BabiVocabulary, buildBabiVocabulary } from './babi/vocabulary.js';
export { BABI_VARIANTS, loadBabi } from './babi/load.js';
export type { BabiVariant, BabiDataset, LoadBabiOptions } from './babi/load.js';
export { encodeStory, encodeBabiStories, babiBatches } from './babi/encode.js';
export type { BabiAnswerSlot, BabiBatch, EncodedStory } from './babi/encode.js';
export { BABI_FAILURE_THRESHOLD, BabiErrorCounter, babiErrors } from './babi/score.js';
export type { BabiErrors, BabiTaskError } from './babi/score.js';
