import { describe, expect, it } from 'vitest';
import { MannError, Rng } from '@mann/core';
import {
  DEFAULT_CURRICULUM_THRESHOLD,
  DEFAULT_CURRICULUM_WINDOW,
  copyTask,
  createTask,
  curriculumLevels,
  incrementalCurriculum,
  mixedCurriculum,
  noCurriculum,
  repeatCopyTask,
} from '../src/index.js';

describe('curriculumLevels', () => {
  it('expands a range to start, start + step, ..., end (end always included)', () => {
    expect(curriculumLevels<{ n: number }>({ key: 'n', start: 2, end: 10, step: 4 })).toEqual([
      { n: 2 },
      { n: 6 },
      { n: 10 },
    ]);
    expect(curriculumLevels<{ n: number }>({ key: 'n', start: 1, end: 8, step: 3 })).toEqual([
      { n: 1 },
      { n: 4 },
      { n: 7 },
      { n: 8 },
    ]);
    expect(curriculumLevels<{ n: number }>({ key: 'n', start: 3, end: 1 })).toEqual([
      { n: 3 },
      { n: 2 },
      { n: 1 },
    ]);
  });

  it('rejects empty level lists and steps that do not reach the end', () => {
    expect(() => curriculumLevels([])).toThrow(/must not be empty/);
    expect(() => curriculumLevels<{ n: number }>({ key: 'n', start: 1, end: 5, step: -1 })).toThrow(
      MannError,
    );
  });
});

describe('noCurriculum', () => {
  it('always gives the same task and never advances', () => {
    const task = createTask('copy');
    const curriculum = noCurriculum(task);
    expect(curriculum.task()).toBe(task);
    expect(curriculum.update(0)).toBe(false);
    expect(curriculum.level).toBe(0);
    expect(curriculum.getState()).toEqual({
      kind: 'none',
      level: 0,
      recentErrors: [],
      lastLevel: null,
      rng: null,
    });
  });
});

describe('incrementalCurriculum', () => {
  it('uses the documented defaults (threshold 0.1, window 10)', () => {
    expect([DEFAULT_CURRICULUM_THRESHOLD, DEFAULT_CURRICULUM_WINDOW]).toEqual([0.1, 10]);
    const curriculum = incrementalCurriculum(copyTask, {
      levels: { key: 'maxLength', start: 5, end: 10, step: 5 },
    });
    for (let i = 0; i < 9; i++) expect(curriculum.update(0)).toBe(false);
    expect(curriculum.update(0.09)).toBe(true);
  });

  it('advances when the mean over a full window drops below the threshold', () => {
    const curriculum = incrementalCurriculum(copyTask, {
      levels: { key: 'maxLength', start: 5, end: 20, step: 5 },
      threshold: 0.5,
      window: 3,
    });
    expect(curriculum.levels).toBe(4);
    expect(curriculum.task().params.maxLength).toBe(5);
    expect(curriculum.update(0)).toBe(false); // window not full
    expect(curriculum.update(0)).toBe(false);
    expect(curriculum.update(2)).toBe(false); // mean 2/3
    expect(curriculum.update(0)).toBe(false); // window [0, 2, 0]: mean 2/3
    expect(curriculum.update(0)).toBe(false); // [2, 0, 0]
    expect(curriculum.update(0.4)).toBe(true); // [0, 0, 0.4]: mean 0.13
    expect(curriculum.level).toBe(1);
    expect(curriculum.task().params.maxLength).toBe(10);
    expect(curriculum.getState().recentErrors).toEqual([]);
    for (let i = 0; i < 9; i++) curriculum.update(0);
    expect(curriculum.level).toBe(3);
    expect(curriculum.update(0)).toBe(false); // stays at the last level
    expect(curriculum.taskAt(3).params.maxLength).toBe(20);
  });

  it('applies base params to every level and accepts explicit level lists', () => {
    const curriculum = incrementalCurriculum(repeatCopyTask, {
      params: { bits: '4' },
      levels: [{ maxRepeats: 2 }, { maxRepeats: 5, maxLength: 5 }],
      window: 1,
    });
    expect(curriculum.task().params).toMatchObject({ bits: 4, maxRepeats: 2, maxLength: 10 });
    curriculum.update(0);
    expect(curriculum.task().params).toMatchObject({ bits: 4, maxRepeats: 5, maxLength: 5 });
    expect(curriculum.task().inputWidth).toBe(6);
  });

  it('validates every level up front, naming the level', () => {
    expect(() =>
      incrementalCurriculum(copyTask, {
        params: { minLength: 8 },
        levels: { key: 'maxLength', start: 4, end: 8, step: 4 },
      }),
    ).toThrow(
      /curriculum level 0 \(\{"maxLength":4\}\): copy: minLength \(8\) must be <= maxLength \(4\)/,
    );
    expect(() => incrementalCurriculum(copyTask, { levels: [{}], window: 0 })).toThrow(/window/);
    expect(() => incrementalCurriculum(copyTask, { levels: [{}], threshold: -1 })).toThrow(
      /threshold/,
    );
  });

  it('restores its state exactly and rejects a state that does not fit', () => {
    const options = { levels: { key: 'maxLength' as const, start: 2, end: 8, step: 2 }, window: 3 };
    const a = incrementalCurriculum(copyTask, options);
    [0, 0, 0, 1, 0].forEach((e) => a.update(e));
    const state = JSON.parse(JSON.stringify(a.getState()));
    const b = incrementalCurriculum(copyTask, options);
    b.setState(state);
    expect(b.level).toBe(1);
    expect(b.getState()).toEqual(a.getState());
    expect(b.update(0)).toBe(a.update(0));
    expect(() => b.setState({ ...state, level: 9 })).toThrow(/state.level/);
    expect(() => b.setState({ ...state, kind: 'mixed' })).toThrow(/state.kind/);
    expect(() => b.setState({ ...state, recentErrors: [0, 0, 0, 0] })).toThrow(/recentErrors/);
  });

  it('rejects negative or non-finite errors', () => {
    const curriculum = incrementalCurriculum(copyTask, { levels: [{}] });
    expect(() => curriculum.update(-1)).toThrow(/bitErrorsPerSequence/);
    expect(() => curriculum.update(NaN)).toThrow(/bitErrorsPerSequence/);
  });
});

describe('mixedCurriculum', () => {
  const options = {
    levels: { key: 'maxLength' as const, start: 5, end: 20, step: 5 },
    window: 2,
    threshold: 0.5,
    seed: 3,
  };

  it('draws levels uniformly from 0..current', () => {
    const curriculum = mixedCurriculum(copyTask, options);
    curriculum.setState({ ...curriculum.getState(), level: 2 });
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[curriculum.task().params.maxLength / 5 - 1]!++;
    expect(counts[3]).toBe(0);
    for (const c of counts.slice(0, 3))
      expect(Math.abs(c - 1000)).toBeLessThan(4 * Math.sqrt(3000 * (1 / 3) * (2 / 3)));
  });

  it('counts only errors of batches drawn at the current level', () => {
    const curriculum = mixedCurriculum(copyTask, options);
    curriculum.setState({ ...curriculum.getState(), level: 1 });
    let advanced = false;
    let counted = 0;
    for (let i = 0; i < 100 && !advanced; i++) {
      const level = curriculum.task().params.maxLength / 5 - 1;
      if (level === 1) counted++;
      advanced = curriculum.update(level === 1 ? 0 : 5);
    }
    expect(advanced).toBe(true);
    expect(counted).toBe(2);
    expect(curriculum.level).toBe(2);
  });

  it('repeats its level draws after a state round trip', () => {
    const a = mixedCurriculum(copyTask, options);
    a.setState({ ...a.getState(), level: 3 });
    for (let i = 0; i < 5; i++) a.task();
    const b = mixedCurriculum(copyTask, { ...options, seed: 99 });
    b.setState(JSON.parse(JSON.stringify(a.getState())));
    const draws = (c: typeof a): number[] =>
      Array.from({ length: 20 }, () => c.task().params.maxLength);
    expect(draws(b)).toEqual(draws(a));
    expect(() => b.setState({ ...a.getState(), rng: null })).toThrow(/state.rng/);
  });

  it('samples from the level task it returns', () => {
    const curriculum = mixedCurriculum(copyTask, {
      ...options,
      levels: [{ minLength: 3, maxLength: 3 }],
    });
    const batch = curriculum.task().sample(new Rng(1), 2);
    expect(batch.steps).toBe(7);
  });
});
