import { afterEach, describe, expect, it } from 'vitest';
import { MannError, Rng } from '@mann/core';
import type { SequenceBatch } from '@mann/core';
import {
  BUILTIN_TASK_NAMES,
  createTask,
  defineTask,
  describeTask,
  getTaskDefinition,
  intParam,
  listTasks,
  numberParam,
  booleanParam,
  choiceParam,
  parseOverrides,
  registerTask,
  resolveParams,
  unregisterTask,
} from '../src/index.js';
import { BABI_FIXTURES } from './helpers.js';

describe('parseOverrides', () => {
  it('splits key=value pairs at the first =', () => {
    expect(parseOverrides(['maxLength=30', ' bits = 6 ', 'dir=/a=b'])).toEqual({
      maxLength: '30',
      bits: '6',
      dir: '/a=b',
    });
    expect(parseOverrides([])).toEqual({});
  });

  it('rejects pairs without a key or =, and repeated keys', () => {
    expect(() => parseOverrides(['maxLength'])).toThrow(
      "override must be key=value, got 'maxLength'",
    );
    expect(() => parseOverrides(['=3'])).toThrow(MannError);
    expect(() => parseOverrides(['bits=1', 'bits=2'])).toThrow(/'bits' is given twice/);
  });
});

describe('registry', () => {
  afterEach(() => {
    for (const name of listTasks()) {
      if (!(BUILTIN_TASK_NAMES as readonly string[]).includes(name)) unregisterTask(name);
    }
  });

  it('lists the built-in tasks in order', () => {
    expect(listTasks()).toEqual([...BUILTIN_TASK_NAMES]);
    expect(getTaskDefinition('copy').name).toBe('copy');
  });

  it('names the registered tasks for an unknown one', () => {
    expect(() => createTask('kopy')).toThrow(
      /unknown task 'kopy'; registered tasks: copy, repeat-copy/,
    );
  });

  it('parses string overrides to the parameter types', () => {
    const task = createTask('copy', parseOverrides(['maxLength=30', 'bits=6']));
    expect(task.params).toEqual({ bits: 6, minLength: 1, maxLength: 30 });
    expect(task.inputWidth).toBe(7);
    const scaled = createTask('repeat-copy', { scaleMinRepeats: '1', scaleMaxRepeats: '12' });
    expect(scaled.params.scaleMaxRepeats).toBe(12);
    const numbers = { rate: numberParam(0, 10, 'a rate') };
    expect(resolveParams('t', numbers, { rate: 1 }, { rate: '2.5' })).toEqual({ rate: 2.5 });
    expect(
      createTask('babi', { dir: BABI_FIXTURES, variant: 'en', tasks: '1' }).params.variant,
    ).toBe('en');
  });

  it('rejects an unknown key, listing every valid key with its range and default', () => {
    const error = (() => {
      try {
        createTask('copy', { maxLen: '30' });
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(error).toBeInstanceOf(MannError);
    expect(error.message).toContain("unknown parameter 'maxLen' for task 'copy'");
    expect(error.message).toContain('bits: an integer in [1, 1024] (default 8)');
    expect(error.message).toContain('minLength: an integer in [1, 100000] (default 1)');
    expect(error.message).toContain('maxLength: an integer in [1, 100000] (default 20)');
  });

  it('rejects bad values, naming key, value and accepted range', () => {
    expect(() => createTask('copy', { maxLength: 'twenty' })).toThrow(
      "parameter 'maxLength' of task 'copy' must be an integer in [1, 100000], got 'twenty'",
    );
    expect(() => createTask('copy', { maxLength: '2.5' })).toThrow(/got '2.5'/);
    expect(() => createTask('copy', { bits: 0 })).toThrow(
      "parameter 'bits' of task 'copy' must be an integer in [1, 1024], got 0",
    );
    expect(() =>
      resolveParams('t', { rate: numberParam(0, 10, 'a rate') }, { rate: 1 }, { rate: 'NaN' }),
    ).toThrow(/a number in/);
    expect(() => createTask('babi', { dir: 'x', variant: 'fr' })).toThrow(
      "parameter 'variant' of task 'babi' must be one of en, en-10k, got 'fr'",
    );
  });

  it('checks every parameter when a definition creates a task directly', () => {
    const copy = getTaskDefinition('copy');
    expect(() => copy.create({ bits: 8, minLength: 1 })).toThrow(/missing parameter 'maxLength'/);
    expect(() => copy.create({ bits: 8, minLength: 1, maxLength: 2, extra: 1 })).toThrow(
      /unknown parameter 'extra'/,
    );
  });

  it('describes a task with its parameters and variants', () => {
    const text = describeTask('copy');
    expect(text).toMatch(/^copy: Copy/);
    expect(text).toContain('maxLength: an integer in [1, 100000] (default 20) - longest sequence');
    expect(text).toContain('generalisation variants: length-30, length-50, length-100, length-120');
  });

  it('registers, creates and unregisters a custom task; names are unique', () => {
    interface ConstantParams {
      steps: number;
      value: number;
      flip: boolean;
      mode: string;
    }
    const definition = defineTask<ConstantParams, SequenceBatch>({
      name: 'constant',
      description: 'test task',
      defaults: { steps: 2, value: 1, flip: false, mode: 'a' },
      paramSpecs: {
        steps: intParam(1, 10, 'steps'),
        value: numberParam(0, 1, 'value'),
        flip: booleanParam('flip'),
        mode: choiceParam(['a', 'b'], 'mode'),
      },
      build: (params) => ({
        inputWidth: 1,
        outputWidth: 1,
        sample: (_rng, batchSize) => ({
          batchSize,
          steps: params.steps,
          inputWidth: 1,
          outputWidth: 1,
          inputs: new Float32Array(batchSize * params.steps),
          targets: new Float32Array(batchSize * params.steps).fill(
            params.flip ? 1 - params.value : params.value,
          ),
          mask: new Float32Array(batchSize * params.steps).fill(1),
        }),
      }),
    });
    registerTask(definition);
    expect(listTasks()).toContain('constant');
    const task = createTask('constant', { flip: 'yes', value: '0.25', mode: 'b' });
    expect(task.params).toEqual({ steps: 2, value: 0.25, flip: true, mode: 'b' });
    expect(task.sample(new Rng(1), 1).targets).toEqual(new Float32Array([0.75, 0.75]));
    expect(task.generalisation).toEqual([]);
    expect(() => task.variant('x')).toThrow(/valid variants: \(none\)/);
    expect(() => createTask('constant', { flip: 'maybe' })).toThrow(/must be true or false/);
    expect(() => registerTask(definition)).toThrow(/already registered/);
    expect(() => registerTask({ ...definition, name: 'Bad Name' })).toThrow(/lower-case/);
    expect(unregisterTask('constant')).toBe(true);
    expect(() => unregisterTask('copy')).toThrow(/built-in/);
  });

  it('resolves typed overrides without parsing and skips undefined values', () => {
    const copy = getTaskDefinition('copy');
    expect(
      resolveParams('copy', copy.paramSpecs, copy.defaults, { maxLength: 5, bits: undefined }),
    ).toEqual({
      bits: 8,
      minLength: 1,
      maxLength: 5,
    });
  });
});

describe('task.sample arguments', () => {
  it('names a missing or wrong rng instead of a bare TypeError', () => {
    const task = createTask('copy');
    expect(() => task.sample(null as unknown as Rng, 2)).toThrow(
      new MannError('rng must be an Rng from @mann/core (new Rng(seed)), got null'),
    );
    expect(() => task.sample(42 as unknown as Rng, 2)).toThrow(
      'rng must be an Rng from @mann/core (new Rng(seed)), got number',
    );
    expect(task.sample(new Rng(1), 2).batchSize).toBe(2);
  });
});
