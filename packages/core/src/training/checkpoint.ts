import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type * as NodeFs from 'node:fs/promises';
import type * as NodePath from 'node:path';
import type { ModelConfig, RecurrentModel } from '../interfaces.js';
import { createModel } from '../registry.js';
import { MannError } from '../errors.js';
import { migrateFusedOption } from '../implementation.js';
import { nodeBuiltin } from '../node-builtins.js';
import {
  Trainer,
  type ResolvedTrainerOptions,
  type ThreadOptions,
  type TrainerState,
} from './trainer.js';

const MAGIC = 'MANNCKPT';
/**
 * Version of the checkpoint file format written by this package. Version 2 ends the file with a
 * SHA-256 of every byte before it (header included); version 1 covered only the float data.
 */
export const CHECKPOINT_FORMAT_VERSION = 2;
const DIGEST_BYTES = 32;
const PREFIX_BYTES = MAGIC.length + 4;

/** A named array in a checkpoint. */
interface TensorEntry {
  readonly name: string;
  readonly shape: number[];
  readonly offset: number;
  readonly length: number;
}

interface Header {
  readonly version: number;
  readonly createdAt: string;
  readonly modelConfig: ModelConfig;
  readonly trainerOptions?: ResolvedTrainerOptions;
  readonly trainer?: Omit<TrainerState, 'optimizer'> & {
    optimizerKind: string;
    optimizerIterations: number;
  };
  readonly metadata: Record<string, unknown>;
  readonly parameters: TensorEntry[];
  readonly optimizerSlots: (TensorEntry & { parameter: string; slot: string })[];
}

/** Everything a checkpoint holds, loaded into memory. */
export interface Checkpoint {
  readonly modelConfig: ModelConfig;
  readonly createdAt: string;
  /** Parameter values by name. */
  readonly parameters: Record<string, { shape: number[]; values: Float32Array }>;
  /** Trainer options and state, when the checkpoint was saved with a trainer. */
  readonly trainerOptions?: ResolvedTrainerOptions;
  readonly trainerState?: TrainerState;
  /** Caller data saved alongside: RNG states, task, curriculum, ... (JSON). */
  readonly metadata: Record<string, unknown>;
}

/** What {@link saveCheckpoint} writes. */
export interface CheckpointContents {
  readonly model: RecurrentModel;
  readonly trainer?: Trainer;
  /** JSON-serialisable data to store with it (RNG states, task, curriculum, ...). */
  readonly metadata?: Record<string, unknown>;
}

/**
 * A checkpoint as bytes: `MANNCKPT`, a uint32 header length, a JSON header (config, trainer
 * state, metadata, tensor table), the float32 data, and last the SHA-256 of all the bytes before
 * it, so a change anywhere is detected by {@link decodeCheckpoint}. Pure: works in Node and in
 * browsers (the file functions {@link saveCheckpoint} and {@link loadCheckpoint} need Node).
 */
export function encodeCheckpoint(contents: CheckpointContents): Uint8Array {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (values: Float32Array): number => {
    const at = offset;
    chunks.push(values);
    offset += values.length;
    return at;
  };
  const parameters: TensorEntry[] = [];
  for (const [name, value] of Object.entries(contents.model.parameters.snapshot())) {
    parameters.push({
      name,
      shape: value.shape,
      offset: add(value.values),
      length: value.values.length,
    });
  }
  const optimizerSlots: Header['optimizerSlots'] = [];
  let trainer: Header['trainer'];
  if (contents.trainer) {
    const state = contents.trainer.getState();
    for (const [parameter, slots] of Object.entries(state.optimizer.slots)) {
      for (const [slot, value] of Object.entries(slots)) {
        optimizerSlots.push({
          name: `${parameter}#${slot}`,
          parameter,
          slot,
          shape: value.shape,
          offset: add(value.values),
          length: value.values.length,
        });
      }
    }
    trainer = {
      steps: state.steps,
      skippedSteps: state.skippedSteps,
      consecutiveBadSteps: state.consecutiveBadSteps,
      optimizerKind: state.optimizer.kind,
      optimizerIterations: state.optimizer.iterations,
    };
  }
  const header: Header = {
    version: CHECKPOINT_FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    modelConfig: contents.model.config,
    ...(contents.trainer ? { trainerOptions: contents.trainer.options, trainer } : {}),
    metadata: contents.metadata ?? {},
    parameters,
    optimizerSlots,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the float data starts 4-byte aligned.
  const start = dataOffset(headerBytes.length);
  const bodyLength = start + offset * 4;
  const file = new Uint8Array(bodyLength + DIGEST_BYTES);
  for (let i = 0; i < MAGIC.length; i++) file[i] = MAGIC.charCodeAt(i);
  new DataView(file.buffer).setUint32(MAGIC.length, headerBytes.length, true);
  file.set(headerBytes, PREFIX_BYTES);
  file.fill(0x20, PREFIX_BYTES + headerBytes.length, start);
  const data = new Float32Array(file.buffer, start, offset);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  file.set(sha256(file.subarray(0, bodyLength)), bodyLength);
  return file;
}

/** Node's `fs/promises` and `path` (taken at call time: no Node built-in on the main entry). */
function nodeFiles(): { fs: typeof NodeFs; path: typeof NodePath } {
  const what = 'saveCheckpoint and loadCheckpoint (files on disk)';
  const instead = 'use encodeCheckpoint and decodeCheckpoint';
  return {
    fs: nodeBuiltin<typeof NodeFs>('node:fs/promises', what, instead),
    path: nodeBuiltin<typeof NodePath>('node:path', what, instead),
  };
}

/**
 * Writes a checkpoint ({@link encodeCheckpoint}) atomically: the file is written and flushed
 * under a temporary name in the same directory and then renamed over `path`, so a crash at any
 * moment leaves either the old checkpoint or the new one, never a torn file. Node only.
 */
export async function saveCheckpoint(path: string, contents: CheckpointContents): Promise<void> {
  const { fs, path: paths } = nodeFiles();
  const bytes = encodeCheckpoint(contents);
  await fs.mkdir(paths.dirname(path), { recursive: true });
  const suffix = bytesToHex(globalThis.crypto.getRandomValues(new Uint8Array(4)));
  const temporary = `${path}.tmp-${globalThis.process.pid}-${suffix}`;
  const file = await fs.open(temporary, 'w');
  try {
    await file.writeFile(bytes);
    await file.sync();
  } catch (error) {
    await file.close();
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await file.close();
  try {
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  const directory = await fs.open(paths.dirname(path), 'r');
  try {
    await directory.sync();
  } catch {
    // Some file systems do not support fsync on directories; the rename is still atomic.
  } finally {
    await directory.close();
  }
}

function corrupt(path: string, why: string): MannError {
  return new MannError(`corrupt or unreadable checkpoint ${path}: ${why}`);
}

/** Where the float data starts after a header of `headerLength` bytes (4-byte aligned). */
const dataOffset = (headerLength: number): number =>
  PREFIX_BYTES + headerLength + ((4 - ((PREFIX_BYTES + headerLength) % 4)) % 4);

/**
 * Explains a file whose trailing digest does not match: an intact checkpoint of format version 1
 * (whose header no checksum covers, so it cannot be trusted) or corruption.
 */
function unverifiedError(path: string, bytes: Uint8Array): MannError {
  const headerLength = uint32At(bytes, MAGIC.length);
  if (PREFIX_BYTES + headerLength > bytes.length) return corrupt(path, 'the header is truncated');
  let legacy: { version?: unknown; sha256?: unknown } | undefined;
  try {
    legacy = JSON.parse(utf8(bytes, PREFIX_BYTES, PREFIX_BYTES + headerLength)) as {
      version?: unknown;
      sha256?: unknown;
    };
  } catch {
    // Not a version 1 file either: corruption.
  }
  if (
    legacy?.version === 1 &&
    legacy.sha256 === bytesToHex(sha256(bytes.subarray(dataOffset(headerLength))))
  ) {
    return new MannError(
      `checkpoint ${path} is from an older format (version 1) whose header no checksum covers, so it cannot be verified; this package reads format version ${CHECKPOINT_FORMAT_VERSION}. Re-create it with this version (train again, or load it with the @mann/core release that wrote it)`,
    );
  }
  return corrupt(path, 'the file does not match its checksum (truncated or modified)');
}

/** Little-endian uint32 at `at`. */
const uint32At = (bytes: Uint8Array, at: number): number =>
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);

/** UTF-8 text of bytes [start, end). */
const utf8 = (bytes: Uint8Array, start: number, end: number): string =>
  new TextDecoder().decode(bytes.subarray(start, end));

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Reads and verifies a checkpoint file ({@link decodeCheckpoint}). Node only.
 *
 * @throws MannError naming the path when the file cannot be read or is corrupt.
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const { fs } = nodeFiles();
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (error) {
    throw new MannError(`cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}

/**
 * Verifies and decodes checkpoint bytes: the magic, then the SHA-256 of everything before the
 * digest (header and data), then the format version and the tensor table. Any change is reported
 * as corruption naming `source` (a path, or what the bytes are); a version 1 file (header not
 * covered) is refused with its own message. Pure: works in Node and in browsers.
 */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint bytes'): Checkpoint {
  const path = source;
  let magic = '';
  for (let i = 0; i < Math.min(MAGIC.length, bytes.length); i++) {
    magic += String.fromCharCode(bytes[i]!);
  }
  if (bytes.length < PREFIX_BYTES || magic !== MAGIC) {
    throw corrupt(path, `it does not start with ${MAGIC}`);
  }
  const bodyEnd = bytes.length - DIGEST_BYTES;
  if (
    bodyEnd < PREFIX_BYTES ||
    !equalBytes(sha256(bytes.subarray(0, bodyEnd)), bytes.subarray(bodyEnd))
  ) {
    throw unverifiedError(path, bytes);
  }
  const headerLength = uint32At(bytes, MAGIC.length);
  const dataStart = dataOffset(headerLength);
  if (dataStart > bodyEnd) throw corrupt(path, 'the header is truncated');
  let header: Header;
  try {
    header = JSON.parse(utf8(bytes, PREFIX_BYTES, PREFIX_BYTES + headerLength)) as Header;
  } catch (error) {
    throw corrupt(path, `the header is not JSON (${(error as Error).message})`);
  }
  if (header.version !== CHECKPOINT_FORMAT_VERSION) {
    throw corrupt(
      path,
      `format version ${header.version}, this package reads ${CHECKPOINT_FORMAT_VERSION}`,
    );
  }
  const dataBytes = bytes.subarray(dataStart, bodyEnd);
  if (dataBytes.length % 4 !== 0) throw corrupt(path, 'the data is not a whole number of floats');
  const data = new Float32Array(
    dataBytes.buffer.slice(dataBytes.byteOffset, dataBytes.byteOffset + dataBytes.byteLength),
  );
  const read = (e: TensorEntry): Float32Array => {
    if (e.offset + e.length > data.length || e.length !== e.shape.reduce((a, b) => a * b, 1)) {
      throw corrupt(path, `tensor '${e.name}' lies outside the data or has the wrong size`);
    }
    return data.slice(e.offset, e.offset + e.length);
  };
  const parameters: Checkpoint['parameters'] = {};
  for (const e of header.parameters) parameters[e.name] = { shape: e.shape, values: read(e) };
  let trainerState: TrainerState | undefined;
  if (header.trainer) {
    const slots: TrainerState['optimizer']['slots'] = {};
    for (const e of header.optimizerSlots)
      (slots[e.parameter] ??= {})[e.slot] = { shape: e.shape, values: read(e) };
    trainerState = {
      steps: header.trainer.steps,
      skippedSteps: header.trainer.skippedSteps,
      consecutiveBadSteps: header.trainer.consecutiveBadSteps,
      optimizer: {
        kind: header.trainer.optimizerKind as TrainerState['optimizer']['kind'],
        iterations: header.trainer.optimizerIterations,
        slots,
      },
    };
  }
  return {
    modelConfig: migrateFusedOption(header.modelConfig),
    createdAt: header.createdAt,
    parameters,
    ...(header.trainerOptions ? { trainerOptions: header.trainerOptions } : {}),
    ...(trainerState ? { trainerState } : {}),
    metadata: header.metadata,
  };
}

/**
 * Rebuilds the model of a checkpoint (its type must be registered: import its package first)
 * and loads the parameters; with a trainer state, also a trainer ready to continue, on
 * `threads.workers` threads (default 1; the thread count is not stored in checkpoints).
 */
export function restoreCheckpoint(
  checkpoint: Checkpoint,
  threads: ThreadOptions = {},
): {
  model: RecurrentModel;
  trainer?: Trainer;
} {
  const model = createModel(checkpoint.modelConfig);
  try {
    model.parameters.load(checkpoint.parameters);
    if (!checkpoint.trainerState || !checkpoint.trainerOptions) return { model };
    const trainer = new Trainer(model, { ...checkpoint.trainerOptions, ...threads });
    trainer.setState(checkpoint.trainerState);
    return { model, trainer };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
