// The claim loop that every training thread runs on a step, the trainer's and the others alike
// (threads.ts, thread-serve.ts).
import type { RecurrentModel } from '../interfaces.js';
import type { SequenceBatch } from '../data.js';
import { shardLossAndGradients, sliceBatch, type ShardRange } from './shards.js';
import type { ChunkBoard } from './thread-protocol.js';

/**
 * Claims chunks of step `seq` on `board` for thread `owner` (0: the trainer's) until none is
 * left, writing each one's loss and gradient (rows `chunks[k]` of `batch`) into the board.
 * `beforeFirst` runs once, before the first chunk this thread got (a training thread loads the
 * step's parameters there); nothing runs when it got none.
 */
export function computeChunks(
  model: RecurrentModel,
  board: ChunkBoard,
  request: {
    readonly seq: number;
    readonly batch: SequenceBatch;
    readonly chunks: readonly ShardRange[];
  },
  owner: number,
  beforeFirst: () => void = () => undefined,
): void {
  const { seq, batch, chunks } = request;
  let k = board.claim(seq, chunks.length, owner);
  if (k >= 0) beforeFirst();
  for (; k >= 0; k = board.claim(seq, chunks.length, owner)) {
    const chunk = sliceBatch(batch, chunks[k] as ShardRange);
    board.setLoss(k, shardLossAndGradients(model, chunk, board.gradient(k)));
  }
}
