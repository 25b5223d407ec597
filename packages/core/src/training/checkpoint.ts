import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ModelConfig, RecurrentModel } from '../interfaces.js';
import { createModel } from '../registry.js';
import { MannError } from '../errors.js';
import {
  Trainer,
  type ResolvedTrainerOptions,
  type TrainerOptions,
  type TrainerState,
} from './trainer.js';

const MAGIC = 'MANNCKPT';
/** Version of the checkpoint file format written by this package. */
export const CHECKPOINT_FORMAT_VERSION = 1;

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
  readonly sha256: string;
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
 * Writes a checkpoint atomically: the file is written and flushed under a temporary name in the
 * same directory and then renamed over `path`, so a crash at any moment leaves either the old
 * checkpoint or the new one, never a torn file. Format: `MANNCKPT`, a uint32 header length, a
 * JSON header (config, trainer state, metadata, tensor table, SHA-256 of the data), then the
 * float32 data.
 */
export async function saveCheckpoint(path: string, contents: CheckpointContents): Promise<void> {
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
  const data = new Float32Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  const dataBytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const header: Header = {
    version: CHECKPOINT_FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    modelConfig: contents.model.config,
    ...(contents.trainer ? { trainerOptions: contents.trainer.options, trainer } : {}),
    metadata: contents.metadata ?? {},
    parameters,
    optimizerSlots,
    sha256: createHash('sha256').update(dataBytes).digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(MAGIC.length + 4);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(headerBytes.length, MAGIC.length);
  // Pad so the float data starts 4-byte aligned.
  const padding = Buffer.alloc((4 - ((prefix.length + headerBytes.length) % 4)) % 4, 0x20);

  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = await open(temporary, 'w');
  try {
    await file.writeFile(Buffer.concat([prefix, headerBytes, padding, dataBytes]));
    await file.sync();
  } catch (error) {
    await file.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await file.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  const directory = await open(dirname(path), 'r');
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

/** Reads and verifies a checkpoint (magic, header, sizes, SHA-256 of the data). */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new MannError(`cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
  if (bytes.length < MAGIC.length + 4 || bytes.toString('ascii', 0, MAGIC.length) !== MAGIC) {
    throw corrupt(path, `it does not start with ${MAGIC}`);
  }
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  const headerStart = MAGIC.length + 4;
  if (headerStart + headerLength > bytes.length) throw corrupt(path, 'the header is truncated');
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', headerStart, headerStart + headerLength)) as Header;
  } catch (error) {
    throw corrupt(path, `the header is not JSON (${(error as Error).message})`);
  }
  if (header.version !== CHECKPOINT_FORMAT_VERSION) {
    throw corrupt(
      path,
      `format version ${header.version}, this package reads ${CHECKPOINT_FORMAT_VERSION}`,
    );
  }
  const dataStart = headerStart + headerLength + ((4 - ((headerStart + headerLength) % 4)) % 4);
  const dataBytes = bytes.subarray(dataStart);
  if (createHash('sha256').update(dataBytes).digest('hex') !== header.sha256) {
    throw corrupt(path, 'the data does not match its checksum (truncated or modified)');
  }
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
    modelConfig: header.modelConfig,
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
  threads: Pick<TrainerOptions, 'workers' | 'workerModules'> = {},
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
