import { MannError } from '@mann/core';
import { encodeBabiStories } from '../babi/encode.js';
import type { BabiBatch } from '../babi/encode.js';
import { BABI_TASKS } from '../babi/format.js';
import type { BabiSplit, BabiStory } from '../babi/format.js';
import { BABI_VARIANTS, loadBabi } from '../babi/load.js';
import type { BabiDataset, BabiVariant } from '../babi/load.js';
import { babiErrors } from '../babi/score.js';
import { choiceParam, stringParam } from '../params.js';
import { defineTask } from '../task.js';
import type { TaskBehaviour, TaskDefinition } from '../task.js';

/** Parameters of the bAbI task. */
export interface BabiParams {
  /** Folder holding `en/` and `en-10k/` (required; the data set is not shipped). Default ''. */
  readonly dir: string;
  /** Which files: 'en' (1k) or 'en-10k'. Default 'en-10k'. */
  readonly variant: BabiVariant;
  /** Task numbers: 'all', or a list like '1,2,5-7'. Default 'all' (joint training). */
  readonly tasks: string;
  /** Split to sample stories from. Default 'train'. */
  readonly split: BabiSplit;
}

/** Joint training on all 20 tasks of en-10k, as in the DNC paper; `dir` must be given. */
export const DEFAULT_BABI_PARAMS: BabiParams = {
  dir: '',
  variant: 'en-10k',
  tasks: 'all',
  split: 'train',
};

/** Parses 'all' or a comma list of task numbers and ranges ('1,2,5-7') into sorted task numbers. */
export function parseBabiTaskList(text: string): number[] {
  if (text.trim().toLowerCase() === 'all') return [...BABI_TASKS];
  const tasks = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const low = match ? Number(match[1]) : NaN;
    const high = match?.[2] === undefined ? low : Number(match[2]);
    if (!(low >= 1 && high <= 20 && low <= high)) {
      throw new MannError(
        `babi: tasks must be 'all' or task numbers in [1, 20] like '1,2,5-7', got '${text}'`,
      );
    }
    for (let t = low; t <= high; t++) tasks.add(t);
  }
  return [...tasks].sort((a, b) => a - b);
}

/** The bAbI task over a loaded data set (see {@link babiTask} for the encoding). */
function babiBehaviour(params: BabiParams, dataset: BabiDataset): TaskBehaviour<BabiBatch> {
  const stories = dataset[params.split];
  return {
    inputWidth: dataset.vocabulary.size,
    outputWidth: dataset.vocabulary.size,
    sample(rng, batchSize) {
      const picked = Array.from(
        { length: batchSize },
        () => stories[rng.int(0, stories.length - 1)] as BabiStory,
      );
      return encodeBabiStories(picked, dataset.vocabulary);
    },
    extraScores(probabilities, batch) {
      const result = babiErrors(probabilities, batch);
      const scores: Record<string, number> = {
        questionErrorRate: result.questions ? result.errors / result.questions : 0,
        meanErrorRate: result.meanErrorRate,
        failedTasks: result.failedTasks,
      };
      for (const t of result.tasks) scores[`qa${t.task}ErrorRate`] = t.errorRate;
      return scores;
    },
  };
}

/**
 * bAbI question answering (Weston et al. 2015), from files the user provides ({@link loadBabi}).
 *
 * `create` reads `<dir>/<variant>/qa<N>_*_{train,test}.txt` for the chosen tasks and builds one
 * vocabulary over both splits (V words, `BabiVocabulary`). A batch is B stories drawn
 * uniformly (with replacement) from `split`; each story is one sequence: one step per word
 * (one-hot input of width V), and after each question one answer step per answer word, with the
 * answer-marker input and the answer word as one-hot target (mask 1 only there). Input and output
 * widths are V. Scores add `questionErrorRate`, `meanErrorRate` (mean over tasks in the batch),
 * `failedTasks` (> 5% error) and `qa<N>ErrorRate` per task; for the published numbers, score the
 * whole test split with `babiBatches` and `BabiErrorCounter`. No generalisation variants.
 */
export const babiTask: TaskDefinition<BabiParams, BabiBatch> = defineTask<BabiParams, BabiBatch>({
  name: 'babi',
  description: 'bAbI: the 20 question-answering tasks, read from a directory you provide',
  defaults: DEFAULT_BABI_PARAMS,
  paramSpecs: {
    dir: stringParam('folder holding en/ and en-10k/ of the bAbI release (required)'),
    variant: choiceParam(BABI_VARIANTS, '1k (en) or 10k (en-10k) training questions per task'),
    tasks: stringParam("'all' or task numbers like '1,2,5-7'"),
    split: choiceParam(['train', 'test'], 'split to sample stories from'),
  },
  check(params) {
    if (params.dir.trim() === '') {
      throw new MannError(
        'babi needs dir=<folder holding en/ and en-10k/ of the bAbI release>; the data set is not shipped',
      );
    }
    parseBabiTaskList(params.tasks);
  },
  build: (params) =>
    babiBehaviour(
      params,
      loadBabi(params.dir, { variant: params.variant, tasks: parseBabiTaskList(params.tasks) }),
    ),
});
