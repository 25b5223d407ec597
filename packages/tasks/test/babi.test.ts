import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MannError, Rng, validateBatch } from '@mann/core';
import {
  ANSWER_MARKER,
  BABI_TASK_NAMES,
  BabiErrorCounter,
  babiBatches,
  babiErrors,
  babiFileName,
  createTask,
  encodeBabiStories,
  encodeStory,
  loadBabi,
  parseBabi,
  parseBabiTaskList,
  tokenize,
} from '../src/index.js';
import type { BabiBatch } from '../src/index.js';
import { BABI_FIXTURES, answerSteps, inputAt, targetAt } from './helpers.js';

const QA1 = [
  '1 Mary moved to the bathroom.',
  '2 John went to the hallway.',
  '3 Where is Mary? \tbathroom\t1',
  '1 Sandra travelled to the office.',
  '2 Where is Sandra? \toffice\t1',
].join('\n');

const temporary: string[] = [];
afterEach(() => {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temporary bAbI folder with `files` (name -> text) under `variant/`. */
function tempBabi(variant: string, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'mann-babi-'));
  temporary.push(root);
  mkdirSync(join(root, variant));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, variant, name), text);
  return root;
}

describe('bAbI format', () => {
  it('names the standard files', () => {
    expect(BABI_TASK_NAMES.length).toBe(20);
    expect(babiFileName(1, 'train')).toBe('qa1_single-supporting-fact_train.txt');
    expect(babiFileName(20, 'test')).toBe('qa20_agents-motivations_test.txt');
    expect(() => babiFileName(21, 'test')).toThrow(/\[1, 20\]/);
  });

  it('tokenizes into lower-case words and punctuation', () => {
    expect(tokenize('Where is Mary? ')).toEqual(['where', 'is', 'mary', '?']);
    expect(tokenize('Mary moved to the bathroom.')).toEqual([
      'mary',
      'moved',
      'to',
      'the',
      'bathroom',
      '.',
    ]);
  });

  it('splits stories at line 1 and parses questions, answers and supporting facts', () => {
    const stories = parseBabi(QA1 + '\n', 1);
    expect(stories.length).toBe(2);
    expect(stories[0]!.lines.length).toBe(3);
    expect(stories[0]!.lines[2]).toEqual({
      kind: 'question',
      id: 3,
      tokens: ['where', 'is', 'mary', '?'],
      answers: ['bathroom'],
      supportingFacts: [1],
    });
    const lists = parseBabi(
      '1 Mary took the milk.\r\n2 What is Mary carrying? \tmilk,Apple\t1 4\r\n',
      8,
    );
    expect(lists[0]!.lines[1]).toMatchObject({
      answers: ['milk', 'apple'],
      supportingFacts: [1, 4],
    });
  });

  it('names the file and line of a malformed line', () => {
    expect(() => parseBabi('1 Mary went home.\nMary went home.', 1, 'qa1.txt')).toThrow(
      `qa1.txt:2: expected "<line number> <sentence>" (bAbI format), got 'Mary went home.'`,
    );
    expect(() => parseBabi('2 Mary went home.', 1, 'qa1.txt')).toThrow(
      /qa1.txt:1: line number 2 does not continue/,
    );
    expect(() => parseBabi('1 Where is Mary?\t\t1', 1, 'qa1.txt')).toThrow(
      /qa1.txt:1: expected "<id> <question>/,
    );
    expect(() => parseBabi('1 Where is Mary?\tkitchen\tx', 1, 'qa1.txt')).toThrow(MannError);
  });
});

describe('loadBabi', () => {
  it('reads the train and test files of the chosen tasks and builds one vocabulary', () => {
    const data = loadBabi(BABI_FIXTURES, { variant: 'en', tasks: [8, 1] });
    expect(data.tasks).toEqual([1, 8]);
    expect(data.variant).toBe('en');
    expect(data.train.map((s) => s.task)).toEqual([1, 1, 8]);
    expect(data.test.map((s) => s.task)).toEqual([1, 1, 8]);
    const words = data.vocabulary.words;
    expect(words[0]).toBe(ANSWER_MARKER);
    expect(words.slice(1)).toEqual([...words.slice(1)].sort());
    // Words only in the test split, and answer words, have channels too.
    for (const w of ['bedroom', 'football', 'nothing', '?', '.'])
      expect(data.vocabulary.has(w)).toBe(true);
    expect(() => data.vocabulary.index('zebra')).toThrow(/'zebra' is not in the bAbI vocabulary/);
  });

  it('names the expected layout when the directory is missing', () => {
    const missing = join(BABI_FIXTURES, 'nowhere');
    expect(() => loadBabi(missing, { variant: 'en', tasks: [1] })).toThrow(
      new RegExp(
        `bAbI directory '${missing}' not found: give the folder that holds en/ and en-10k/.*nowhere/en/qa1_single-supporting-fact_train.txt`,
      ),
    );
  });

  it('names the variant directory and an expected file when the variant is missing', () => {
    expect(() => loadBabi(BABI_FIXTURES, { tasks: [1] })).toThrow(
      /has no 'en-10k' sub-directory; expected files like .*en-10k\/qa1_single-supporting-fact_train.txt/,
    );
  });

  it('lists every missing file', () => {
    expect(() => loadBabi(BABI_FIXTURES, { variant: 'en', tasks: [1, 2] })).toThrow(
      /is missing 2 file\(s\): qa2_two-supporting-facts_train.txt, qa2_two-supporting-facts_test.txt/,
    );
    expect(() => loadBabi(BABI_FIXTURES, { variant: 'en' })).toThrow(/is missing 36 file\(s\)/);
  });

  it('rejects bad options', () => {
    expect(() => loadBabi(BABI_FIXTURES, { variant: 'fr' as 'en' })).toThrow(
      /variant must be one of en, en-10k/,
    );
    expect(() => loadBabi(BABI_FIXTURES, { tasks: [0] })).toThrow(/\[1, 20\]/);
  });

  it('accepts a non-standard stem and reports malformed files by path and line', () => {
    const root = tempBabi('en-10k', {
      'qa1_renamed_train.txt': QA1,
      'qa1_renamed_test.txt': '1 Oops\n2 x\n2 y',
    });
    expect(() => loadBabi(root, { tasks: [1] })).toThrow(
      /qa1_renamed_test.txt:3: line number 2 does not continue/,
    );
    const ok = tempBabi('en-10k', { 'qa1_renamed_train.txt': QA1, 'qa1_renamed_test.txt': QA1 });
    expect(loadBabi(ok, { tasks: [1] }).train.length).toBe(2);
    const empty = tempBabi('en-10k', {
      'qa1_renamed_train.txt': '\n',
      'qa1_renamed_test.txt': QA1,
    });
    expect(() => loadBabi(empty, { tasks: [1] })).toThrow(/has no stories/);
  });
});

describe('bAbI encoding', () => {
  const data = loadBabi(BABI_FIXTURES, { variant: 'en', tasks: [1, 8] });
  const v = data.vocabulary;

  it('encodes a story word by word with one marker step per answer word', () => {
    const story = data.train[2]!; // qa8: answers milk / milk,apple / nothing
    const encoded = encodeStory(story, v);
    const marker = v.index(ANSWER_MARKER);
    expect(encoded.slots.map((s) => s.answers.map((a) => v.words[a]))).toEqual([
      ['milk'],
      ['milk', 'apple'],
      ['nothing'],
    ]);
    for (const slot of encoded.slots) {
      expect(slot.task).toBe(8);
      for (const step of slot.steps) expect(encoded.words[step]).toBe(marker);
    }
    const second = encoded.slots[1]!;
    expect(second.steps[1]).toBe(second.steps[0]! + 1);
    const words = encoded.words.map((w) => v.words[w]);
    expect(words.slice(0, 6)).toEqual(['mary', 'took', 'the', 'milk', 'there', '.']);
    expect(encoded.words.filter((w) => w === marker).length).toBe(4);
  });

  it('builds one-hot inputs and masked one-hot answer targets', () => {
    const batch = encodeBabiStories(data.train, v);
    validateBatch(batch);
    expect([batch.inputWidth, batch.outputWidth]).toEqual([v.size, v.size]);
    expect(batch.questions.length).toBe(7); // 2 + 2 (qa1) + 3 (qa8)
    for (let b = 0; b < batch.batchSize; b++) {
      const length = encodeStory(data.train[b]!, v).words.length;
      for (let t = 0; t < batch.steps; t++) {
        const sum = inputAt(batch, b, t).reduce((a, x) => a + x, 0);
        expect(sum).toBe(t < length ? 1 : 0);
      }
    }
    for (const q of batch.questions) {
      q.steps.forEach((step, i) => {
        const target = targetAt(batch, q.sequence, step);
        expect(target.indexOf(1)).toBe(q.answers[i]);
        expect(target.reduce((a, x) => a + x, 0)).toBe(1);
      });
    }
    const masked = batch.questions.flatMap((q) => q.steps.map((s) => `${q.sequence}:${s}`));
    const fromMask = [0, 1, 2].flatMap((b) => answerSteps(batch, b).map((s) => `${b}:${s}`));
    expect(fromMask.sort()).toEqual(masked.sort());
  });
});

describe('bAbI errors', () => {
  const data = loadBabi(BABI_FIXTURES, { variant: 'en', tasks: [1, 8] });

  /** Outputs that are right on every answer word except `wrong` (question index -> word index). */
  function outputs(batch: BabiBatch, wrong: readonly number[] = []): Float32Array {
    const out = Float32Array.from(batch.targets);
    for (const index of wrong) {
      const q = batch.questions[index]!;
      const offset = (q.sequence * batch.steps + q.steps[q.steps.length - 1]!) * batch.outputWidth;
      out[offset + q.answers[q.answers.length - 1]!] = 0.2;
      out[offset + ((q.answers[0]! + 1) % batch.outputWidth)] = 0.9;
    }
    return out;
  }

  it('gives zero error for right answers', () => {
    const batch = encodeBabiStories(data.test, data.vocabulary);
    const result = babiErrors(outputs(batch), batch);
    expect(result).toMatchObject({ meanErrorRate: 0, failedTasks: 0, errors: 0, questions: 3 });
    expect(result.tasks.map((t) => t.task)).toEqual([1, 8]);
  });

  it('counts a question wrong when any answer word is wrong, per task, and failed tasks (> 5%)', () => {
    const batch = encodeBabiStories(data.train, data.vocabulary);
    // Question 5 is qa8's two-word "milk,apple": only its second word is wrong.
    expect(batch.questions[5]!.answers.length).toBe(2);
    const result = babiErrors(outputs(batch, [5]), batch);
    expect(result.tasks).toEqual([
      { task: 1, questions: 4, errors: 0, errorRate: 0 },
      { task: 8, questions: 3, errors: 1, errorRate: 1 / 3 },
    ]);
    expect(result.meanErrorRate).toBeCloseTo(1 / 6, 12);
    expect(result.failedTasks).toBe(1);
    const both = babiErrors(outputs(batch, [0, 5]), batch);
    expect(both.failedTasks).toBe(2);
    expect(both.tasks[0]!.errorRate).toBe(0.25);
  });

  it('accumulates over the whole split in batches', () => {
    const counter = new BabiErrorCounter();
    const sizes: number[] = [];
    for (const batch of babiBatches(data, 'train', 2)) {
      sizes.push(batch.batchSize);
      counter.add(outputs(batch, batch.questions.length > 3 ? [0] : []), batch);
    }
    expect(sizes).toEqual([2, 1]);
    expect(counter.result()).toMatchObject({ questions: 7, errors: 1, failedTasks: 1 });
  });

  it('rejects outputs of the wrong size and batches without questions', () => {
    const batch = encodeBabiStories(data.test, data.vocabulary);
    expect(() => babiErrors(new Float32Array(2), batch)).toThrow(/expected/);
    const { questions: _drop, ...plain } = batch;
    expect(() => babiErrors(batch.targets, plain as BabiBatch)).toThrow(
      /batch.questions is missing/,
    );
  });
});

describe('babi task', () => {
  const params = { dir: BABI_FIXTURES, variant: 'en' as const, tasks: '1,8' };

  it('needs a directory, and says so', () => {
    expect(() => createTask('babi')).toThrow(/babi needs dir=<folder holding en\/ and en-10k\//);
  });

  it('samples stories of the split and scores per-task errors', () => {
    const task = createTask('babi', params);
    const vocabulary = loadBabi(BABI_FIXTURES, { variant: 'en', tasks: [1, 8] }).vocabulary;
    expect(task.inputWidth).toBe(vocabulary.size);
    expect(task.generalisation).toEqual([]);
    const batch = task.sample(new Rng(81), 6);
    validateBatch(batch);
    expect(task.sample(new Rng(81), 6).inputs).toEqual(batch.inputs);
    const scores = task.score(Float32Array.from(batch.targets), batch);
    expect(scores).toMatchObject({
      bitErrorsPerSequence: 0,
      questionErrorRate: 0,
      failedTasks: 0,
      meanErrorRate: 0,
    });
    const tasks = new Set(batch.questions.map((q) => q.task));
    for (const t of tasks) expect(scores[`qa${t}ErrorRate`]).toBe(0);
  });

  it('samples the test split when asked', () => {
    const task = createTask('babi', { ...params, split: 'test', tasks: '1' });
    const batch = task.sample(new Rng(82), 20);
    // Both qa1 test stories have one question: "Where is John?" (kitchen), "Where is Daniel?" (bedroom).
    expect(batch.questions.length).toBe(20);
    const answers = new Set(batch.questions.map((q) => q.answers[0]));
    expect(answers.size).toBe(2);
  });

  it('parses task lists', () => {
    expect(parseBabiTaskList('all').length).toBe(20);
    expect(parseBabiTaskList('1, 2,5-7')).toEqual([1, 2, 5, 6, 7]);
    expect(() => parseBabiTaskList('0')).toThrow(/task numbers in \[1, 20\]/);
    expect(() => parseBabiTaskList('3-1')).toThrow(MannError);
    expect(() => createTask('babi', { ...params, tasks: '21' })).toThrow(/got '21'/);
  });
});
