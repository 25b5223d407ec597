// `--set`: what is not applied is rejected, naming the pair: malformed JSON, model keys that
// --model and the task decide, and model or training overrides given to `mann eval`.
import { describe, expect, it } from 'vitest';
import { parseOverrides } from '../src/overrides.js';
import { json, mann } from './cli-helpers.js';

describe('parseOverrides', () => {
  it('parses JSON values and keeps bare words as strings', () => {
    expect(
      parseOverrides([
        'model.controller.hiddenSizes=[64,64]',
        'model.controller.kind=feedforward',
        'task.maxLength=5',
        'train.optimizer={"kind":"adam"}',
        'task.name="quoted"',
      ]),
    ).toEqual({
      model: { controller: { hiddenSizes: [64, 64], kind: 'feedforward' } },
      task: { maxLength: 5, name: 'quoted' },
      train: { optimizer: { kind: 'adam' } },
    });
  });

  for (const [pair, value] of [
    ['model.hiddenSizes=[64,', '[64,'],
    ['model.controller={kind:lstm}', '{kind:lstm}'],
    ['task.maxLength=5x', '5x'],
    ['task.name="unterminated', '"unterminated'],
  ]) {
    it(`rejects malformed JSON: ${pair}`, () => {
      expect(() => parseOverrides([pair!])).toThrow(
        new RegExp(
          `^--set '${pair!.replace(/[[\]{}]/g, '\\$&')}': '${value!.replace(/[[\]{}]/g, '\\$&')}' is not valid JSON \\(.*\\); write a string as a bare word or in double quotes$`,
        ),
      );
    });
  }
});

describe('mann train / eval --set', () => {
  const train = ['train', '--model', 'lstm', '--task', 'copy', '--results', '/nonexistent/x'];
  for (const [key, why] of [
    ['type', 'the model type is --model'],
    ['inputSize', 'the input width comes from the task'],
    ['outputSize', 'the output width comes from the task'],
  ]) {
    it(`train rejects model.${key}`, async () => {
      const result = await mann(...train, '--set', `model.${key}=7`, '--json');
      expect(result.code).toBe(1);
      expect(json(result)).toEqual({ error: `--set model.${key} cannot be set: ${why}` });
    });
  }

  it('eval rejects model and training overrides (it would ignore them)', async () => {
    for (const pair of ['model.hiddenSizes=[4]', 'train.sequences=5']) {
      const result = await mann('eval', 'any.ckpt', '--set', pair, '--json');
      expect(result.code).toBe(1);
      expect(json(result)).toEqual({
        error: `mann eval applies task.<key>= overrides only (the model and its training are the checkpoint's); got --set ${pair.split('=')[0]}`,
      });
    }
  });
});
