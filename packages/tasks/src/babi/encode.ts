import { checkInteger } from '@mann/core';
import type { SequenceBatch } from '@mann/core';
import { BatchWriter, maxOf } from '../batch.js';
import type { BabiSplit, BabiStory } from './format.js';
import type { BabiDataset } from './load.js';
import { ANSWER_MARKER } from './vocabulary.js';
import type { BabiVocabulary } from './vocabulary.js';

/** Where one question's answer sits in a batch. */
export interface BabiAnswerSlot {
  /** Sequence index b in the batch. */
  readonly sequence: number;
  /** bAbI task (1..20) of the story. */
  readonly task: number;
  /** The answer steps, one per answer word. */
  readonly steps: readonly number[];
  /** The answer words' channels, aligned with `steps`. */
  readonly answers: readonly number[];
}

/** A bAbI batch: the arrays plus every question's answer slots (for per-task error rates). */
export interface BabiBatch extends SequenceBatch {
  readonly questions: readonly BabiAnswerSlot[];
}

/** A story as word channels, with the answer slots in step numbers. */
export interface EncodedStory {
  /** [T] the input word channel of each step. */
  readonly words: readonly number[];
  readonly slots: readonly Omit<BabiAnswerSlot, 'sequence'>[];
}

/**
 * A story as a sequence of word steps: every statement's and question's tokens in order, and after
 * each question one {@link ANSWER_MARKER} step per answer word, whose target is that word.
 */
export function encodeStory(story: BabiStory, vocabulary: BabiVocabulary): EncodedStory {
  const marker = vocabulary.index(ANSWER_MARKER);
  const words: number[] = [];
  const slots: Omit<BabiAnswerSlot, 'sequence'>[] = [];
  for (const line of story.lines) {
    for (const token of line.tokens) words.push(vocabulary.index(token));
    if (line.kind !== 'question') continue;
    const steps: number[] = [];
    for (let i = 0; i < line.answers.length; i++) {
      steps.push(words.length);
      words.push(marker);
    }
    slots.push({ task: story.task, steps, answers: line.answers.map((a) => vocabulary.index(a)) });
  }
  return { words, slots };
}

/**
 * Encodes stories as one batch: inputs are one-hot words [B, T, V], targets one-hot answer words
 * on the answer steps (mask 1 there, 0 elsewhere), V = vocabulary size, T = longest story.
 */
export function encodeBabiStories(
  stories: readonly BabiStory[],
  vocabulary: BabiVocabulary,
): BabiBatch {
  checkInteger('number of stories', stories.length, 1);
  const encoded = stories.map((story) => encodeStory(story, vocabulary));
  const size = vocabulary.size;
  const writer = new BatchWriter(
    stories.length,
    maxOf(encoded.map((e) => e.words.length)),
    size,
    size,
  );
  const questions: BabiAnswerSlot[] = [];
  encoded.forEach(({ words, slots }, b) => {
    words.forEach((word, step) => writer.input(b, step, word));
    for (const slot of slots) {
      slot.steps.forEach((step, i) => {
        writer.target(b, step, slot.answers[i] as number);
        writer.answer(b, step);
      });
      questions.push({ sequence: b, ...slot });
    }
  });
  return { ...writer.build(), questions };
}

/**
 * Every story of `split`, in file order, as batches of up to `batchSize` stories (the last may be
 * smaller): for evaluating the whole test set with {@link BabiErrorCounter}.
 */
export function* babiBatches(
  dataset: BabiDataset,
  split: BabiSplit,
  batchSize: number,
): Generator<BabiBatch, void, undefined> {
  checkInteger('batchSize', batchSize, 1);
  const stories = dataset[split];
  for (let start = 0; start < stories.length; start += batchSize) {
    yield encodeBabiStories(stories.slice(start, start + batchSize), dataset.vocabulary);
  }
}
