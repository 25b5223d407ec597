import { MannError } from '@mann/core';
import type { BabiStory } from './format.js';

/**
 * The input token of an answer slot: the model must output the answer word on this step. (The DNC
 * paper used '-'; this token cannot come out of `tokenize`, so it never collides with text.)
 */
export const ANSWER_MARKER = '<answer>';

/**
 * Words of a bAbI data set, each with a channel: index 0 is {@link ANSWER_MARKER}, then every
 * story word, question word and answer word, sorted. Input and output widths equal `size`.
 */
export class BabiVocabulary {
  readonly words: readonly string[];
  private readonly indices: ReadonlyMap<string, number>;

  /** @param words - distinct words; `words[0]` must be {@link ANSWER_MARKER}. */
  constructor(words: readonly string[]) {
    if (words[0] !== ANSWER_MARKER || new Set(words).size !== words.length) {
      throw new MannError(
        `vocabulary words must be distinct and start with '${ANSWER_MARKER}', got [${words.slice(0, 5).join(', ')}${words.length > 5 ? ', ...' : ''}]`,
      );
    }
    this.words = Object.freeze([...words]);
    this.indices = new Map(words.map((w, i) => [w, i]));
  }

  /** Number of words (= channels). */
  get size(): number {
    return this.words.length;
  }

  /** Whether `word` has a channel. */
  has(word: string): boolean {
    return this.indices.has(word);
  }

  /** The channel of `word`. @throws MannError for an unknown word. */
  index(word: string): number {
    const i = this.indices.get(word);
    if (i === undefined) throw new MannError(`word '${word}' is not in the bAbI vocabulary`);
    return i;
  }
}

/** The vocabulary of every word in `stories` (statements, questions and answers). */
export function buildBabiVocabulary(stories: readonly BabiStory[]): BabiVocabulary {
  const words = new Set<string>();
  for (const story of stories) {
    for (const line of story.lines) {
      for (const token of line.tokens) words.add(token);
      if (line.kind === 'question') for (const answer of line.answers) words.add(answer);
    }
  }
  return new BabiVocabulary([ANSWER_MARKER, ...[...words].sort()]);
}
