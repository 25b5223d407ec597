// The protocol between a Trainer's thread and its training threads, the same in Node
// (node:worker_threads) and in browsers (Web Workers). Requests go by postMessage; replies come
// back through shared memory only (a status word and the error text), because a browser thread
// blocked in Atomics.wait receives no message: the main thread reads them synchronously while it
// waits on the status words. The work of a step, chunks of the batch, is handed out through
// shared memory too (ChunkBoard): each thread, the main one included, claims the next chunk
// until none is left, so a thread slowed down by the machine computes fewer of them. No Node
// built-in here.
import type { RecurrentModel } from '../interfaces.js';
import type { SequenceBatch } from '../data.js';
import type { BackendName } from '../backend.js';
import type { ShardRange } from './shards.js';

/** Value a thread stores in its status word when it exits (Node; browsers have no exit hook). */
export const THREAD_EXITED = -1;

/** Bytes of error text (message, then stack) a thread can report per reply; the rest is cut. */
export const REPLY_TEXT_BYTES = 4096;

/** What the main thread sends a training thread first (`{ type: 'start', data }`). */
export interface ThreadStartData {
  /** Index of the thread among the helper threads (0-based; it is thread index + 2 of N). */
  readonly index: number;
  /** Threads running in all, this one included (at most {@link TrainerOptions.workers}). */
  readonly threads: number;
  /** The reply memory ({@link ThreadMemory}) of every helper thread. */
  readonly memory: SharedArrayBuffer;
  /** Float32Array of every parameter (`entries()` order), written by the main thread. */
  readonly parameters: SharedArrayBuffer;
  /** The chunks' claim word, losses and gradients ({@link ChunkBoard}). */
  readonly board: SharedArrayBuffer;
  /** Chunks the board has room for. */
  readonly boardChunks: number;
  /** Name and shape of every parameter, in `entries()` order. */
  readonly layout: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly config: RecurrentModel['config'];
  /** Module URLs or package names to import (and `register()`) before building the model. */
  readonly modules: readonly string[];
  readonly backend: BackendName;
}

/** A message from the main thread to a training thread. */
export type ThreadRequest =
  | { readonly type: 'start'; readonly data: ThreadStartData }
  /**
   * Claim chunks of `batch` (rows `chunks[k]`) on the board until none is left, computing the
   * loss and gradients of each; answer with `seq`.
   */
  | {
      readonly type: 'step';
      readonly seq: number;
      readonly batch: SequenceBatch;
      readonly chunks: readonly ShardRange[];
    };

/** A thread's answer to request `seq` (the start is request 1), as read from shared memory. */
export type ThreadReply =
  | { readonly type: 'ready'; readonly seq: number }
  | { readonly type: 'done'; readonly seq: number }
  | {
      readonly type: 'error';
      readonly seq: number;
      readonly message: string;
      readonly stack?: string;
    };

/** The sequence number of a thread's start. */
export const START_SEQ = 1;

const KINDS = ['ready', 'done', 'error'] as const;

/**
 * Views of the shared reply memory of `helpers` threads. Layout (bytes): Int32 status words
 * `[0]` parameter version and `[1 + i]` the last request thread `i` answered (or
 * {@link THREAD_EXITED}); Int32 triple per thread (reply kind, message
 * bytes, stack bytes); UTF-8 text, {@link REPLY_TEXT_BYTES} per thread. A thread writes its reply
 * first and its status word last (`Atomics.store`), so a reader that sees the status word sees
 * the reply.
 */
export class ThreadMemory {
  readonly status: Int32Array;
  private readonly meta: Int32Array;
  private readonly text: Uint8Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly helpers: number,
  ) {
    const statusBytes = 8 * Math.ceil((4 * (1 + helpers)) / 8);
    const expected = ThreadMemory.bytes(helpers);
    if (buffer.byteLength !== expected) {
      throw new Error(
        `thread reply memory for ${helpers} threads has ${buffer.byteLength} bytes, expected ${expected}`,
      );
    }
    this.status = new Int32Array(buffer, 0, 1 + helpers);
    this.meta = new Int32Array(buffer, statusBytes, 3 * helpers);
    this.text = new Uint8Array(buffer, statusBytes + 12 * helpers, REPLY_TEXT_BYTES * helpers);
  }

  /** Size of the reply memory of `helpers` threads. */
  static bytes(helpers: number): number {
    return 8 * Math.ceil((4 * (1 + helpers)) / 8) + (12 + REPLY_TEXT_BYTES) * helpers;
  }

  /** Fresh reply memory for `helpers` threads (status words 0: nothing answered). */
  static create(helpers: number): ThreadMemory {
    return new ThreadMemory(new SharedArrayBuffer(ThreadMemory.bytes(helpers)), helpers);
  }

  /** Thread `index` publishes its reply: the reply first, then its status word, then a wake-up. */
  answer(index: number, reply: ThreadReply): void {
    const kind = KINDS.indexOf(reply.type);
    this.meta[3 * index] = kind;
    if (reply.type === 'error') {
      const text = this.text.subarray(REPLY_TEXT_BYTES * index, REPLY_TEXT_BYTES * (index + 1));
      const message = writeUtf8(reply.message, text);
      const stack = writeUtf8(reply.stack ?? '', text.subarray(message));
      this.meta[3 * index + 1] = message;
      this.meta[3 * index + 2] = stack;
    }
    this.setStatus(index, reply.seq);
  }

  /** Thread `index` says it has exited (Node's `exit` event of its process object). */
  exited(index: number): void {
    this.setStatus(index, THREAD_EXITED);
  }

  private setStatus(index: number, value: number): void {
    Atomics.store(this.status, 1 + index, value);
    Atomics.notify(this.status, 1 + index);
  }

  /**
   * The reply of thread `index` to request `seq`: undefined while it has not answered, 'exited'
   * when it has exited instead.
   */
  read(index: number, seq: number): ThreadReply | 'exited' | undefined {
    const value = Atomics.load(this.status, 1 + index);
    if (value === THREAD_EXITED) return 'exited';
    if (value !== seq) return undefined;
    const kind = KINDS[this.meta[3 * index] as number];
    if (kind === 'ready') return { type: 'ready', seq };
    if (kind === 'done') return { type: 'done', seq };
    const start = REPLY_TEXT_BYTES * index;
    const messageBytes = this.meta[3 * index + 1] as number;
    const stackBytes = this.meta[3 * index + 2] as number;
    const message = readUtf8(this.text.subarray(start, start + messageBytes));
    const stack = readUtf8(
      this.text.subarray(start + messageBytes, start + messageBytes + stackBytes),
    );
    return { type: 'error', seq, message, ...(stack ? { stack } : {}) };
  }

  /**
   * Blocks (`Atomics.wait`: Node, or a browser's Web Worker; never a page's main thread) until
   * thread `index` answers `seq` or exits, at most `timeoutMs`; undefined on timeout.
   */
  wait(index: number, seq: number, timeoutMs = Infinity): ThreadReply | 'exited' | undefined {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = Atomics.load(this.status, 1 + index);
      const reply = this.read(index, seq);
      if (reply) return reply;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      Atomics.wait(this.status, 1 + index, value, Math.min(1000, left));
    }
  }

  /**
   * Waits without blocking (`Atomics.waitAsync` where there is one, else polling) until thread
   * `index` answers `seq` or exits, at most `timeoutMs`, or until `interrupted()` returns a
   * reason (checked at least every 50 ms, and whenever {@link ThreadMemory.wake} is called).
   */
  async waitAsync(
    index: number,
    seq: number,
    timeoutMs = Infinity,
    interrupted: () => string | undefined = () => undefined,
  ): Promise<ThreadReply | 'exited' | { readonly interrupted: string } | undefined> {
    const deadline = Date.now() + timeoutMs;
    const waitAsync = (
      Atomics as unknown as {
        waitAsync?: (
          array: Int32Array,
          index: number,
          value: number,
          timeout: number,
        ) => { async: boolean; value: unknown };
      }
    ).waitAsync;
    for (;;) {
      const value = Atomics.load(this.status, 1 + index);
      const reply = this.read(index, seq);
      if (reply) return reply;
      const reason = interrupted();
      if (reason !== undefined) return { interrupted: reason };
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      const slice = Math.min(50, left);
      if (typeof waitAsync === 'function') {
        const result = waitAsync(this.status, 1 + index, value, slice);
        if (result.async) await result.value;
      } else {
        await new Promise((resolve) => setTimeout(resolve, Math.min(10, slice)));
      }
    }
  }

  /** Wakes whoever waits on thread `index` (to look at something else, such as a failure). */
  wake(index: number): void {
    Atomics.notify(this.status, 1 + index);
  }
}

/** Bits of a claim word that count chunks; the rest holds the step's sequence number. */
const CHUNK_BITS = 10;
const CHUNK_MASK = (1 << CHUNK_BITS) - 1;
const STEP_MASK = (1 << (32 - CHUNK_BITS)) - 1;

/**
 * The work of one step in shared memory: a claim word, then per chunk its loss (Float64), the
 * thread that claimed it, the milliseconds it took (Float64) and its gradient (`gradientSize`
 * floats). The claim word holds the step's sequence number (its low 22 bits) and the next chunk
 * to hand out (up to 1023 chunks: 2 for each of 256 threads fit), so a thread still busy with an
 * earlier step cannot claim a chunk of the next one. Each chunk is computed by exactly one thread, whichever claims it; the
 * main thread reads the board once every thread has answered the step.
 */
export class ChunkBoard {
  private readonly claims: Int32Array;
  private readonly losses: Float64Array;
  private readonly owners: Int32Array;
  private readonly millis: Float64Array;
  private readonly gradients: Float32Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly chunks: number,
    readonly gradientSize: number,
  ) {
    if (chunks > CHUNK_MASK) {
      throw new Error(`a chunk board holds at most ${CHUNK_MASK} chunks, asked for ${chunks}`);
    }
    const expected = ChunkBoard.bytes(chunks, gradientSize);
    if (buffer.byteLength !== expected) {
      throw new Error(
        `chunk board for ${chunks} chunks of ${gradientSize} gradients has ${buffer.byteLength} bytes, expected ${expected}`,
      );
    }
    this.claims = new Int32Array(buffer, 0, 1);
    this.losses = new Float64Array(buffer, 8, chunks);
    this.owners = new Int32Array(buffer, 8 + 8 * chunks, chunks);
    const millis = 8 + 8 * chunks + 8 * Math.ceil(chunks / 2);
    this.millis = new Float64Array(buffer, millis, chunks);
    this.gradients = new Float32Array(buffer, millis + 8 * chunks, chunks * gradientSize);
  }

  static bytes(chunks: number, gradientSize: number): number {
    return 8 + 16 * chunks + 8 * Math.ceil(chunks / 2) + 4 * chunks * gradientSize;
  }

  static create(chunks: number, gradientSize: number): ChunkBoard {
    return new ChunkBoard(
      new SharedArrayBuffer(ChunkBoard.bytes(chunks, gradientSize)),
      chunks,
      gradientSize,
    );
  }

  /** Opens step `seq`: its chunks are claimed from 0 on (before the step's requests go out). */
  open(seq: number): void {
    Atomics.store(this.claims, 0, (seq & STEP_MASK) << CHUNK_BITS);
  }

  /** No chunk of step `seq` is handed out any more (a thread failed; the step is abandoned). */
  close(seq: number): void {
    Atomics.store(this.claims, 0, ((seq & STEP_MASK) << CHUNK_BITS) | CHUNK_MASK);
  }

  /**
   * The next chunk of step `seq` (of `count`), now the thread `owner`'s to compute (0: the
   * trainer's, i + 1: helper i); -1 when none is left.
   */
  claim(seq: number, count: number, owner: number): number {
    for (;;) {
      const word = Atomics.load(this.claims, 0);
      const next = word & CHUNK_MASK;
      if (word >>> CHUNK_BITS !== (seq & STEP_MASK) || next >= count) return -1;
      if (Atomics.compareExchange(this.claims, 0, word, word + 1) === word) {
        this.owners[next] = owner;
        return next;
      }
    }
  }

  /** The thread that claimed chunk k (read once every thread has answered the step). */
  owner(k: number): number {
    return this.owners[k] as number;
  }

  /** Chunk k's gradient (a view of the board, written by the thread that claimed k). */
  gradient(k: number): Float32Array<ArrayBufferLike> {
    return this.gradients.subarray(k * this.gradientSize, (k + 1) * this.gradientSize);
  }

  setLoss(k: number, loss: number): void {
    this.losses[k] = loss;
  }

  loss(k: number): number {
    return this.losses[k] as number;
  }

  /** Records how long chunk k took its thread to compute, in milliseconds. */
  setMillis(k: number, ms: number): void {
    this.millis[k] = ms;
  }

  /** How long chunk k took its thread (read once every thread has answered the step). */
  chunkMillis(k: number): number {
    return this.millis[k] as number;
  }
}

/**
 * Writes as much of `text` as fits into `into` as UTF-8 (whole characters only); returns the
 * bytes written. (TextEncoder writes into a plain buffer, then copies: not every browser lets it
 * write into shared memory.)
 */
function writeUtf8(text: string, into: Uint8Array): number {
  const bytes = new TextEncoder().encode(text);
  let length = Math.min(bytes.length, into.length);
  // Back off to the start of a character (continuation bytes are 10xxxxxx).
  if (length < bytes.length)
    while (length > 0 && ((bytes[length] as number) & 0xc0) === 0x80) length--;
  into.set(bytes.subarray(0, length));
  return length;
}

/** UTF-8 from shared memory (copied first: TextDecoder may refuse shared views). */
function readUtf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes.slice());
}
