import { MannError } from '@mann/core';

/** File-name stems of the 20 bAbI tasks (Weston et al. 2015), index 0 = task 1. */
export const BABI_TASK_NAMES: readonly string[] = [
  'single-supporting-fact',
  'two-supporting-facts',
  'three-supporting-facts',
  'two-arg-relations',
  'three-arg-relations',
  'yes-no-questions',
  'counting',
  'lists-sets',
  'simple-negation',
  'indefinite-knowledge',
  'basic-coreference',
  'conjunction',
  'compound-coreference',
  'time-reasoning',
  'basic-deduction',
  'basic-induction',
  'positional-reasoning',
  'size-reasoning',
  'path-finding',
  'agents-motivations',
];

/** Task numbers 1..20. */
export const BABI_TASKS: readonly number[] = BABI_TASK_NAMES.map((_, i) => i + 1);

/** The two splits of every task. */
export type BabiSplit = 'train' | 'test';

/** The standard file name of task `task` (1..20), e.g. `qa1_single-supporting-fact_train.txt`. */
export function babiFileName(task: number, split: BabiSplit): string {
  const name = BABI_TASK_NAMES[task - 1];
  if (!Number.isInteger(task) || name === undefined) {
    throw new MannError(`bAbI task must be an integer in [1, 20], got ${task}`);
  }
  return `qa${task}_${name}_${split}.txt`;
}

/** A statement line of a story: "1 Mary moved to the bathroom." */
export interface BabiStatement {
  readonly kind: 'statement';
  /** The line number in the file (1 for the first line of a story). */
  readonly id: number;
  /** Lower-cased words and punctuation: ['mary', 'moved', 'to', 'the', 'bathroom', '.']. */
  readonly tokens: readonly string[];
}

/** A question line: "3 Where is Mary? \tbathroom\t1". */
export interface BabiQuestion {
  readonly kind: 'question';
  readonly id: number;
  /** ['where', 'is', 'mary', '?'] */
  readonly tokens: readonly string[];
  /** The answer words, lower-cased; several for list answers ("apple,football", "n,w"). */
  readonly answers: readonly string[];
  /** Line ids of the supporting facts. */
  readonly supportingFacts: readonly number[];
}

/** One story: the lines from a line numbered 1 up to the next line numbered 1. */
export interface BabiStory {
  /** The bAbI task (1..20) it comes from. */
  readonly task: number;
  readonly lines: readonly (BabiStatement | BabiQuestion)[];
}

/** Lower-cases and splits `text` into words and single punctuation marks. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+|[^\sa-z0-9]/g) ?? [];
}

/**
 * Parses the text of one bAbI file. Lines are `<id> <sentence>` or, for questions,
 * `<id> <question>\t<answer>[,<answer>...]\t<supporting ids>`; a line numbered 1 starts a new
 * story. Blank lines are ignored.
 *
 * @param source - the file name, used in error messages.
 * @throws MannError naming `source` and the line for a malformed line.
 */
export function parseBabi(text: string, task: number, source = `task ${task}`): BabiStory[] {
  const stories: { task: number; lines: (BabiStatement | BabiQuestion)[] }[] = [];
  let previousId = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const where = `${source}:${index + 1}`;
    const match = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!match) {
      throw new MannError(
        `${where}: expected "<line number> <sentence>" (bAbI format), got '${line}'`,
      );
    }
    const id = Number(match[1]);
    const body = match[2] as string;
    if (id === 1) {
      stories.push({ task, lines: [] });
    } else if (stories.length === 0 || id <= previousId) {
      throw new MannError(
        `${where}: line number ${id} does not continue a story (previous ${previousId}; a story starts at 1)`,
      );
    }
    previousId = id;
    const story = stories[stories.length - 1] as { lines: (BabiStatement | BabiQuestion)[] };
    if (!body.includes('\t')) {
      story.lines.push({ kind: 'statement', id, tokens: tokenize(body) });
      return;
    }
    const [question = '', answer = '', support = ''] = body.split('\t');
    const answers = answer
      .split(',')
      .map((a) => a.trim().toLowerCase())
      .filter((a) => a !== '');
    const supportingFacts = support.trim() === '' ? [] : support.trim().split(/\s+/).map(Number);
    if (answers.length === 0 || supportingFacts.some((f) => !Number.isInteger(f))) {
      throw new MannError(
        `${where}: expected "<id> <question>\\t<answer>\\t<supporting line ids>", got '${line}'`,
      );
    }
    story.lines.push({
      kind: 'question',
      id,
      tokens: tokenize(question),
      answers,
      supportingFacts,
    });
  });
  return stories;
}
