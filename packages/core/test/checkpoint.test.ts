import type { FileHandle } from 'node:fs/promises';
import type * as FsPromises from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  batchTensors,
  CHECKPOINT_FORMAT_VERSION,
  decodeCheckpoint,
  encodeCheckpoint,
  createModel,
  loadCheckpoint,
  MannError,
  type ModelConfig,
  type RecurrentModel,
  restoreCheckpoint,
  Rng,
  saveCheckpoint,
  selectBackend,
  Trainer,
} from '@mann/core';
import { copyBatch, expectBitwiseEqual, expectClose } from './helpers.js';

// Hooks into the file system calls saveCheckpoint makes, to fail a write or look at the files
// at the moment of the rename.
const hooks = vi.hoisted(() => ({
  wrapHandle: undefined as undefined | ((path: string, handle: FileHandle) => FileHandle),
  beforeRename: undefined as undefined | ((from: string, to: string) => Promise<void>),
}));

// saveCheckpoint takes `fs/promises` at call time through process.getBuiltinModule (the module
// imports no Node built-in, for browser bundles), so the hooks wrap what that returns.
const realGetBuiltinModule = process.getBuiltinModule.bind(process);
function fsWithHooks(): typeof FsPromises {
  const actual = realGetBuiltinModule('node:fs/promises');
  return {
    ...actual,
    open: async (...args: Parameters<typeof actual.open>) => {
      const handle = await actual.open(...args);
      return hooks.wrapHandle ? hooks.wrapHandle(String(args[0]), handle) : handle;
    },
    rename: async (
      from: Parameters<typeof actual.rename>[0],
      to: Parameters<typeof actual.rename>[1],
    ) => {
      await hooks.beforeRename?.(String(from), String(to));
      return actual.rename(from, to);
    },
  };
}
const hookedFs = fsWithHooks();
const getBuiltinSpy = vi
  .spyOn(process, 'getBuiltinModule')
  .mockImplementation(((id: string) =>
    id === 'node:fs/promises'
      ? hookedFs
      : realGetBuiltinModule(id)) as typeof process.getBuiltinModule);

let directory = '';
beforeAll(async () => {
  await selectBackend();
  directory = await mkdtemp(join(tmpdir(), 'mann-checkpoint-test-'));
});
afterEach(() => {
  hooks.wrapHandle = undefined;
  hooks.beforeRename = undefined;
});
afterAll(async () => {
  getBuiltinSpy.mockRestore();
  if (directory) await rm(directory, { recursive: true, force: true });
});

let counter = 0;
/** A fresh, empty directory for one test. */
async function freshDirectory(): Promise<string> {
  const dir = join(directory, `case-${++counter}`);
  await mkdir(dir);
  return dir;
}

const modelOf = (seed: number, hiddenSizes = [6]) =>
  createModel({ type: 'lstm', inputSize: 5, outputSize: 4, hiddenSizes }, { seed });

function expectSameParameters(a: RecurrentModel, b: RecurrentModel): void {
  const [x, y] = [a.parameters.snapshot(), b.parameters.snapshot()];
  expect(Object.keys(y)).toEqual(Object.keys(x));
  for (const name of Object.keys(x)) expectBitwiseEqual(y[name]!.values, x[name]!.values, name);
}

const outputsOf = (model: RecurrentModel) =>
  tf.tidy(() => model.run(batchTensors(copyBatch(new Rng(5), 3)).inputs).outputs.dataSync());

/** The parts of a checkpoint file: JSON header, float data, trailing SHA-256 of the rest. */
function splitCheckpoint(bytes: Buffer) {
  const length = bytes.readUInt32LE(8);
  const start = 12;
  const header = JSON.parse(bytes.toString('utf8', start, start + length)) as Record<
    string,
    unknown
  >;
  const data = bytes.subarray(start + length + ((4 - ((start + length) % 4)) % 4), -32);
  return { header, data };
}

/** Lays out `MANNCKPT`, the header length, the header and the data as saveCheckpoint does. */
function assemble(header: Record<string, unknown>, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write('MANNCKPT', 0, 'ascii');
  prefix.writeUInt32LE(json.length, 8);
  const padding = Buffer.alloc((4 - ((12 + json.length) % 4)) % 4, 0x20);
  return Buffer.concat([prefix, json, padding, data]);
}

/**
 * Rewrites the JSON header of a checkpoint file in place, keeping its data, and writes a digest
 * that matches: a well-formed file with odd contents, as a buggy writer would produce.
 */
async function rewriteHeader(path: string, edit: (header: Record<string, unknown>) => void) {
  const { header, data } = splitCheckpoint(await readFile(path));
  edit(header);
  const body = assemble(header, data);
  await writeFile(path, Buffer.concat([body, createHash('sha256').update(body).digest()]));
}

describe('encodeCheckpoint / decodeCheckpoint (no files, as in a browser)', () => {
  it('round-trips parameters and trainer state through bytes, equal to what saveCheckpoint writes', async () => {
    const model = modelOf(21);
    const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-2 } });
    trainer.trainStep(copyBatch(new Rng(21), 2));
    const bytes = encodeCheckpoint({ model, trainer, metadata: { seed: 21 } });
    const decoded = decodeCheckpoint(bytes, 'memory');
    const restored = restoreCheckpoint(decoded);
    expectSameParameters(model, restored.model);
    expect(restored.trainer?.getState().steps).toBe(1);
    expect(decoded.metadata).toEqual({ seed: 21 });
    // The file is the same bytes but for the creation time inside the header.
    const path = join(await freshDirectory(), 'same.ckpt');
    await saveCheckpoint(path, { model, trainer, metadata: { seed: 21 } });
    const file = await readFile(path);
    expect(file.length).toBe(bytes.length);
    expectSameParameters(model, restoreCheckpoint(decodeCheckpoint(file, path)).model);
  });

  it('names the source of corrupt bytes', () => {
    const bytes = encodeCheckpoint({ model: modelOf(22) });
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 1;
    expect(() => decodeCheckpoint(bytes, 'upload.ckpt')).toThrow(
      'corrupt or unreadable checkpoint upload.ckpt: the file does not match its checksum',
    );
    expect(() => decodeCheckpoint(new Uint8Array(3))).toThrow(
      'corrupt or unreadable checkpoint checkpoint bytes: it does not start with MANNCKPT',
    );
  });
});

describe('saveCheckpoint / loadCheckpoint / restoreCheckpoint', () => {
  it('round-trips config, parameters and metadata; the restored model computes the same outputs', async () => {
    const dir = await freshDirectory();
    const path = join(dir, 'nested', 'model.ckpt'); // missing directories are created
    const model = modelOf(1, [6, 3]);
    const metadata = { task: 'copy', curriculum: { maxLength: 5 }, seeds: [1, 2] };
    await saveCheckpoint(path, { model, metadata });
    const checkpoint = await loadCheckpoint(path);
    expect(checkpoint.modelConfig).toEqual(model.config);
    expect(checkpoint.metadata).toEqual(metadata);
    expect(checkpoint.trainerState).toBeUndefined();
    expect(Date.now() - Date.parse(checkpoint.createdAt)).toBeLessThan(60_000);
    expect(Object.keys(checkpoint.parameters)).toEqual(model.parameters.names());
    const restored = restoreCheckpoint(checkpoint);
    expect(restored.trainer).toBeUndefined();
    expect(restored.model).not.toBe(model);
    expect(restored.model.config).toEqual(model.config);
    expectSameParameters(model, restored.model);
    expectBitwiseEqual(outputsOf(restored.model), outputsOf(model));
    expect(await readdir(join(dir, 'nested'))).toEqual(['model.ckpt']);
    expect(CHECKPOINT_FORMAT_VERSION).toBe(2);
  });

  it("reads an older config's fused: true / false as implementation 'fused' / 'composed'", async () => {
    const model = modelOf(3, [5]);
    for (const [fused, implementation] of [
      [true, 'fused'],
      [false, 'composed'],
    ] as const) {
      const path = join(await freshDirectory(), 'old.ckpt');
      await saveCheckpoint(path, { model });
      await rewriteHeader(path, (header) => {
        const { implementation: _dropped, ...old } = header.modelConfig as Record<string, unknown>;
        header.modelConfig = { ...old, fused };
      });
      const checkpoint = await loadCheckpoint(path);
      expect(checkpoint.modelConfig).toEqual({ ...model.config, implementation });
      const restored = restoreCheckpoint(checkpoint).model as RecurrentModel & {
        implementation: string;
      };
      expect(restored.implementation).toBe(implementation);
      expectSameParameters(model, restored);
      expectClose(outputsOf(restored), outputsOf(model), 1e-5);
      restored.dispose();
    }
    // Both names at once is ambiguous; outside a checkpoint, fused is refused.
    const path = join(await freshDirectory(), 'both.ckpt');
    await saveCheckpoint(path, { model });
    await rewriteHeader(path, (header) => {
      header.modelConfig = { ...(header.modelConfig as object), fused: true };
    });
    await expect(loadCheckpoint(path)).rejects.toThrow(
      "checkpoint model config has both 'fused' (true) and 'implementation' (\"fused\"); keep one",
    );
    expect(() => createModel({ ...model.config, fused: true } as ModelConfig)).toThrow(
      "lstm config: the option 'fused' (got true) was renamed; use implementation: 'fused' | 'composed'",
    );
    model.dispose();
  });

  it('round-trips the trainer: options, counters and optimizer state, so training continues exactly', async () => {
    const path = join(await freshDirectory(), 'train.ckpt');
    const model = modelOf(2);
    const trainer = new Trainer(model, {
      optimizer: { kind: 'rmsprop', learningRate: 1e-3, centered: true },
      clipNorm: 5,
      clipGradientValue: 3,
      maxBadSteps: 4,
    });
    const rng = new Rng(2);
    trainer.trainStep(copyBatch(rng, 4));
    trainer.trainStep(copyBatch(rng, 4));
    await saveCheckpoint(path, { model, trainer });
    const checkpoint = await loadCheckpoint(path);
    expect(checkpoint.trainerOptions).toEqual(trainer.options);
    expect(checkpoint.trainerState).toEqual(trainer.getState());
    const restored = restoreCheckpoint(checkpoint);
    expect(restored.trainer!.getState()).toEqual(trainer.getState());
    expect(restored.trainer!.options).toEqual(trainer.options);
    const next = copyBatch(rng, 4);
    const a = trainer.trainStep(next);
    const b = restored.trainer!.trainStep(next);
    expect(b).toEqual(a);
    expectSameParameters(model, restored.model);
  });

  describe('a corrupt or unreadable file is a MannError naming the path', () => {
    let good = '';
    let bytes: Buffer;
    beforeAll(async () => {
      good = join(await freshDirectory(), 'good.ckpt');
      await saveCheckpoint(good, { model: modelOf(3) });
      bytes = await readFile(good);
    });

    const expectCorrupt = async (path: string, why: string | RegExp) => {
      const error = await loadCheckpoint(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MannError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toMatch(why);
    };

    it('flipped bytes in the data or the digest fail the checksum', async () => {
      for (const at of [bytes.length - 1, bytes.length - 40, bytes.length - 200]) {
        const path = join(directory, `flipped-${at}.ckpt`);
        const copy = Buffer.from(bytes);
        copy[at] = copy[at]! ^ 0x40;
        await writeFile(path, copy);
        await expectCorrupt(
          path,
          `corrupt or unreadable checkpoint ${path}: the file does not match its checksum`,
        );
      }
    });

    it('one changed digit in the header (offset, metadata, trainer steps) fails the checksum', async () => {
      const path = join(await freshDirectory(), 'header.ckpt');
      const model = modelOf(12);
      const trainer = new Trainer(model, { optimizer: { kind: 'adam', learningRate: 1e-3 } });
      trainer.trainStep(copyBatch(new Rng(12), 2));
      await saveCheckpoint(path, { model, trainer, metadata: { task: { maxLength: 5 } } });
      const original = await readFile(path);
      const text = original.toString('latin1');
      const edits: [string, string][] = [
        ['"offset":0', '"offset":1'],
        ['"maxLength":5', '"maxLength":6'],
        ['"steps":1', '"steps":2'],
        ['"clipValue":', '"clipValuf":'],
      ];
      for (const [from, to] of edits) {
        const at = text.indexOf(from);
        if (at < 0) continue; // not every key is in every header
        const copy = Buffer.from(original);
        copy.write(to, at, 'latin1');
        await writeFile(path, copy);
        await expectCorrupt(
          path,
          `corrupt or unreadable checkpoint ${path}: the file does not match its checksum`,
        );
      }
      expect(text).toContain('"offset":0');
      expect(text).toContain('"maxLength":5');
      expect(text).toContain('"steps":1');
    });

    it('a file of format version 1 (header not covered) is refused as an older format', async () => {
      const path = join(directory, 'version1.ckpt');
      const { header, data } = splitCheckpoint(bytes);
      header.version = 1;
      header.sha256 = createHash('sha256').update(data).digest('hex');
      await writeFile(path, assemble(header, data));
      const error = (await loadCheckpoint(path).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(MannError);
      expect(error.message).toBe(
        `checkpoint ${path} is from an older format (version 1) whose header no checksum covers, so it cannot be verified; this package reads format version 2. Re-create it with this version (train again, or load it with the @mann/core release that wrote it)`,
      );
      // ... and the same file with a byte of its data changed is plain corruption
      const changed = assemble(header, data);
      changed[changed.length - 1] = changed[changed.length - 1]! ^ 0x01;
      await writeFile(path, changed);
      await expectCorrupt(path, 'the file does not match its checksum');
    });

    it('a truncated file fails the checksum or the header length check', async () => {
      const path = join(directory, 'truncated.ckpt');
      await writeFile(path, bytes.subarray(0, bytes.length - 8));
      await expectCorrupt(path, 'the file does not match its checksum (truncated or modified)');
      await writeFile(path, bytes.subarray(0, 40));
      await expectCorrupt(path, 'the header is truncated');
      await writeFile(path, bytes.subarray(0, 5));
      await expectCorrupt(path, 'it does not start with MANNCKPT');
    });

    it('a wrong magic, an empty file or a header that is not JSON', async () => {
      const path = join(directory, 'magic.ckpt');
      const copy = Buffer.from(bytes);
      copy.write('NOTACKPT', 0, 'ascii');
      await writeFile(path, copy);
      await expectCorrupt(path, 'it does not start with MANNCKPT');
      await writeFile(path, Buffer.alloc(0));
      await expectCorrupt(path, 'it does not start with MANNCKPT');
      const garbled = Buffer.from(bytes);
      garbled.write('}}}}', 12, 'ascii');
      await writeFile(path, garbled);
      await expectCorrupt(path, 'the file does not match its checksum');
      // a header that is not JSON under a matching digest (a writer bug) is reported as such
      await writeFile(path, bytes);
      await rewriteHeader(path, () => undefined);
      const rewritten = await readFile(path);
      rewritten.write('}}}}', 12, 'ascii');
      const body = rewritten.subarray(0, -32);
      await writeFile(path, Buffer.concat([body, createHash('sha256').update(body).digest()]));
      await expectCorrupt(path, 'the header is not JSON');
    });

    it('another format version, or a tensor table that points outside the data', async () => {
      const path = join(directory, 'version.ckpt');
      await writeFile(path, bytes);
      await rewriteHeader(path, (h) => (h.version = 99));
      await expectCorrupt(path, 'format version 99, this package reads 2');
      await writeFile(path, bytes);
      await rewriteHeader(path, (h) => {
        const entries = h.parameters as { offset: number }[];
        entries[1]!.offset = 1e6;
      });
      await expectCorrupt(path, "tensor 'lstm0/recurrentKernel' lies outside the data");
    });

    it('a directory or a missing file', async () => {
      await expectCorrupt(directory, /^cannot read checkpoint .*: EISDIR/);
      await expectCorrupt(join(directory, 'missing.ckpt'), /^cannot read checkpoint .*: ENOENT/);
    });
  });

  describe('a checkpoint that does not match the model is an error naming the parameter', () => {
    it('wrong shapes, missing or extra parameters', async () => {
      const path = join(await freshDirectory(), 'small.ckpt');
      await saveCheckpoint(path, { model: modelOf(4, [4]) });
      const { parameters } = await loadCheckpoint(path);
      expect(() => modelOf(4, [5]).parameters.load(parameters)).toThrow(MannError);
      expect(() => modelOf(4, [5]).parameters.load(parameters)).toThrow(
        "parameter 'lstm0/inputKernel' has shape [5, 16] in the source, the model expects [5, 20]",
      );
      expect(() => modelOf(4, [4, 4]).parameters.load(parameters)).toThrow(
        'parameters do not match the model: missing [lstm1/inputKernel, lstm1/recurrentKernel, lstm1/bias], unexpected []',
      );
    });

    it('a config whose model does not fit the saved parameters; nothing leaks', async () => {
      const path = join(await freshDirectory(), 'tampered.ckpt');
      await saveCheckpoint(path, { model: modelOf(5, [4]) });
      await rewriteHeader(path, (h) => {
        (h.modelConfig as { hiddenSizes: number[] }).hiddenSizes = [7];
      });
      const checkpoint = await loadCheckpoint(path);
      const before = tf.memory().numTensors;
      expect(() => restoreCheckpoint(checkpoint)).toThrow(
        "parameter 'lstm0/inputKernel' has shape [5, 16] in the source, the model expects [5, 28]",
      );
      expect(tf.memory().numTensors).toBe(before);
    });

    it('an unknown model type lists the known ones', async () => {
      const path = join(await freshDirectory(), 'unknown.ckpt');
      await saveCheckpoint(path, { model: modelOf(6) });
      await rewriteHeader(path, (h) => ((h.modelConfig as { type: string }).type = 'gru'));
      const checkpoint = await loadCheckpoint(path);
      expect(() => restoreCheckpoint(checkpoint)).toThrow(
        /^unknown model type 'gru'; known types: .*\blstm\b.*\bmemory\b/,
      );
    });
  });

  describe('atomic writes', () => {
    it('the old checkpoint stays until the new one is complete and synced, then it is replaced', async () => {
      const dir = await freshDirectory();
      const path = join(dir, 'model.ckpt');
      const [oldModel, newModel] = [modelOf(7), modelOf(8)];
      await saveCheckpoint(path, { model: oldModel });
      const synced: string[] = [];
      hooks.wrapHandle = (file, handle) =>
        ({
          writeFile: (data: Buffer) => handle.writeFile(data),
          sync: async () => {
            synced.push(file);
            await handle.sync();
          },
          close: () => handle.close(),
        }) as unknown as FileHandle;
      let seen = false;
      hooks.beforeRename = async (from, to) => {
        seen = true;
        expect(to).toBe(path);
        expect(synced).toContain(from);
        // a crash here would leave the old checkpoint in place ...
        const visible = restoreCheckpoint(await loadCheckpoint(to)).model;
        expectSameParameters(oldModel, visible);
        // ... and the new one is already complete under the temporary name
        expectSameParameters(newModel, restoreCheckpoint(await loadCheckpoint(from)).model);
      };
      await saveCheckpoint(path, { model: newModel });
      expect(seen).toBe(true);
      expectSameParameters(newModel, restoreCheckpoint(await loadCheckpoint(path)).model);
      expect(await readdir(dir)).toEqual(['model.ckpt']);
    });

    it('a write that fails half-way leaves the old checkpoint loadable and no temporary file', async () => {
      const dir = await freshDirectory();
      const path = join(dir, 'model.ckpt');
      const oldModel = modelOf(9);
      await saveCheckpoint(path, { model: oldModel });
      hooks.wrapHandle = (file, handle) =>
        file.includes('.tmp-')
          ? ({
              writeFile: async (data: Buffer) => {
                await handle.writeFile(data.subarray(0, 100));
                throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
                  code: 'ENOSPC',
                });
              },
              sync: () => handle.sync(),
              close: () => handle.close(),
            } as unknown as FileHandle)
          : handle;
      await expect(saveCheckpoint(path, { model: modelOf(10) })).rejects.toThrow('ENOSPC');
      expect(await readdir(dir)).toEqual(['model.ckpt']);
      expectSameParameters(oldModel, restoreCheckpoint(await loadCheckpoint(path)).model);
    });

    it('a rename that fails (the path is a directory) leaves no temporary file', async () => {
      const dir = await freshDirectory();
      await mkdir(join(dir, 'taken'));
      await expect(saveCheckpoint(join(dir, 'taken'), { model: modelOf(11) })).rejects.toThrow(
        /EISDIR|ENOTEMPTY|EEXIST/,
      );
      expect(await readdir(dir)).toEqual(['taken']);
      expect(await readdir(join(dir, 'taken'))).toEqual([]);
    });
  });
});

describe('fault injection: every byte of a small checkpoint flipped in turn', () => {
  it('each flip is detected (a MannError naming the path) or loads exactly the original', async () => {
    const dir = await freshDirectory();
    const path = join(dir, 'tiny.ckpt');
    const model = createModel(
      { type: 'lstm', inputSize: 2, outputSize: 1, hiddenSizes: [1] },
      { seed: 13 },
    );
    const trainer = new Trainer(model, {
      optimizer: { kind: 'adam', learningRate: 1e-2 },
      clipNorm: 10,
    });
    trainer.trainStep(copyBatch(new Rng(13), 1, 1, 1));
    await saveCheckpoint(path, { model, trainer, metadata: { task: { maxLength: 5 }, seed: 13 } });
    const bytes = await readFile(path);
    const original = await loadCheckpoint(path);
    const faulty = join(dir, 'faulty.ckpt');
    let detected = 0;
    let harmless = 0;
    const wrong: string[] = [];
    for (let at = 0; at < bytes.length; at++) {
      for (const mask of [0x01, 0xff]) {
        const copy = Buffer.from(bytes);
        copy[at] = copy[at]! ^ mask;
        await writeFile(faulty, copy);
        const loaded = await loadCheckpoint(faulty).catch((error: unknown) => error);
        if (loaded instanceof MannError && loaded.message.includes(faulty)) {
          detected++;
        } else if (loaded instanceof Error) {
          wrong.push(`byte ${at} ^ ${mask}: ${loaded.name}: ${loaded.message}`);
        } else if (isDeepStrictEqual(loaded, original)) {
          harmless++; // Float32Arrays compare element by element, configs and state by value
        } else {
          wrong.push(`byte ${at} ^ ${mask}: loaded something else`);
        }
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(detected + harmless).toBe(2 * bytes.length);
    expect(bytes.length).toBeGreaterThan(500);
    console.log(
      `fault injection: ${bytes.length} bytes, ${detected} flips detected, ${harmless} harmless`,
    );
  });
});
