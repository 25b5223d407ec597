import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import { MannError, checkChoice } from '@mann/core';
import { BABI_TASKS, babiFileName, parseBabi } from './format.js';
import type { BabiSplit, BabiStory } from './format.js';
import { buildBabiVocabulary } from './vocabulary.js';
import type { BabiVocabulary } from './vocabulary.js';

/** The two standard sizes: 1k (`en`) or 10k (`en-10k`) training questions per task. */
export type BabiVariant = 'en' | 'en-10k';

/** The variants {@link loadBabi} accepts. */
export const BABI_VARIANTS: readonly BabiVariant[] = ['en', 'en-10k'];

/** Options of {@link loadBabi}. */
export interface LoadBabiOptions {
  /** Sub-directory to read. Default 'en-10k' (the DNC paper's joint training set). */
  readonly variant?: BabiVariant;
  /** Task numbers to load (1..20). Default all 20. */
  readonly tasks?: readonly number[];
}

/** The stories of the loaded tasks, both splits, and their shared vocabulary. */
export interface BabiDataset {
  /** The directory the files were read from (`<dir>/<variant>`), resolved. */
  readonly directory: string;
  readonly variant: BabiVariant;
  /** The loaded task numbers, ascending. */
  readonly tasks: readonly number[];
  /** Training stories, task by task, in file order. */
  readonly train: readonly BabiStory[];
  /** Test stories, task by task, in file order. */
  readonly test: readonly BabiStory[];
  /** Words of both splits (so test words have channels), see {@link buildBabiVocabulary}. */
  readonly vocabulary: BabiVocabulary;
}

/**
 * Node's `fs` and `path`, taken at call time with `process.getBuiltinModule` (Node >= 20.16), so
 * this module imports no Node built-in: a browser bundle of `@mann/tasks` stays valid, and only
 * calling {@link loadBabi} there fails, with a message saying what to do instead.
 */
function nodeFiles(): { fs: typeof NodeFs; path: typeof NodePath } {
  const getBuiltin = globalThis.process?.getBuiltinModule;
  if (typeof getBuiltin !== 'function') {
    throw new MannError(
      'loadBabi reads files and needs Node >= 20.16; elsewhere fetch the files yourself and parse their text with parseBabi',
    );
  }
  return { fs: getBuiltin('node:fs'), path: getBuiltin('node:path') };
}

/**
 * Finds the file of (task, split) in `directory`: the standard name (`qa1_single-supporting-fact_train.txt`)
 * or, failing that, any `qa1_*_train.txt`.
 */
function findFile(
  join: (...parts: string[]) => string,
  directory: string,
  files: readonly string[],
  task: number,
  split: BabiSplit,
): string | null {
  const standard = babiFileName(task, split);
  if (files.includes(standard)) return join(directory, standard);
  const loose = files.find((f) => f.startsWith(`qa${task}_`) && f.endsWith(`_${split}.txt`));
  return loose === undefined ? null : join(directory, loose);
}

/**
 * Reads the bAbI tasks from the standard release layout (synchronously):
 * `<dir>/<variant>/qa<N>_<name>_{train,test}.txt`, e.g. `<dir>/en-10k/qa1_single-supporting-fact_train.txt`,
 * where `dir` is the folder of the release that holds `en/` and `en-10k/` (`tasks_1-20_v1-2`).
 * The data set is not shipped with this package.
 *
 * @throws MannError naming the directory and the expected files when the directory or a file is
 *   missing, or naming the file and line when a line is malformed.
 */
export function loadBabi(dir: string, options: LoadBabiOptions = {}): BabiDataset {
  const variant = checkChoice('variant', options.variant ?? 'en-10k', BABI_VARIANTS);
  const tasks = [...new Set(options.tasks ?? BABI_TASKS)].sort((a, b) => a - b);
  if (tasks.length === 0 || tasks.some((t) => !BABI_TASKS.includes(t))) {
    throw new MannError(
      `tasks must be bAbI task numbers in [1, 20], got [${(options.tasks ?? []).join(', ')}]`,
    );
  }
  const { fs, path: nodePath } = nodeFiles();
  const { join } = nodePath;
  const isDirectory = (path: string): boolean =>
    fs.existsSync(path) && fs.statSync(path).isDirectory();
  const root = nodePath.resolve(dir);
  const example = join(root, variant, babiFileName(tasks[0] as number, 'train'));
  if (!isDirectory(root)) {
    throw new MannError(
      `bAbI directory '${root}' not found: give the folder that holds en/ and en-10k/ (tasks_1-20_v1-2 of the bAbI release), with files like ${example}`,
    );
  }
  const directory = join(root, variant);
  if (!isDirectory(directory)) {
    throw new MannError(
      `bAbI directory '${root}' has no '${variant}' sub-directory; expected files like ${example}`,
    );
  }
  const files = fs.readdirSync(directory);
  const missing: string[] = [];
  const paths = (split: BabiSplit): { task: number; path: string }[] =>
    tasks.flatMap((task) => {
      const path = findFile(join, directory, files, task, split);
      if (path === null) missing.push(babiFileName(task, split));
      return path === null ? [] : [{ task, path }];
    });
  const trainFiles = paths('train');
  const testFiles = paths('test');
  if (missing.length > 0) {
    throw new MannError(
      `bAbI directory '${directory}' is missing ${missing.length} file(s): ${missing.join(', ')}`,
    );
  }
  const read = (entries: { task: number; path: string }[]): BabiStory[] =>
    entries.flatMap(({ task, path }) => {
      const stories = parseBabi(fs.readFileSync(path, 'utf8'), task, path);
      if (stories.length === 0) throw new MannError(`bAbI file ${path} has no stories`);
      return stories;
    });
  const train = read(trainFiles);
  const test = read(testFiles);
  return {
    directory,
    variant,
    tasks,
    train,
    test,
    vocabulary: buildBabiVocabulary([...train, ...test]),
  };
}
