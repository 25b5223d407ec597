// The claim loop that every training thread runs on a step, the trainer's and the others alike
// (threads.ts, thread-serve.ts).
import type { RecurrentModel } from '../interfaces.js';
import type { SequenceBatch } from '../data.js';
import { shardLossAndGradients, sliceBatch, type ShardRange } from './shards.js';
import type { ChunkBoard } from './thread-protocol.js';

/**
 * Claims chunks of step `seq` on `board` for thread `owner` (0: the trainer's) until none is
 * left, writing each one's loss, gradient (rows `chunks[k]` of `batch`) and time into the board, from
 * the step's parameter values `parameters` (`shardLossAndGradients`: on arrays where the model
 * can). `loadVariables` runs at most once, before the first chunk that needs the model's
 * variables (a training thread loads the step's parameters into them there).
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
  parameters: Float32Array<ArrayBufferLike>,
  loadVariables: () => void = () => undefined,
): void {
  const { seq, batch, chunks } = request;
  let loaded = false;
  const load = (): void => {
    if (!loaded) loadVariables();
    loaded = true;
  };
  for (let k = board.claim(seq, chunks.length, owner); k >= 0;) {
    const start = performance.now();
    const chunk = sliceBatch(batch, chunks[k] as ShardRange);
    board.setLoss(k, shardLossAndGradients(model, chunk, board.gradient(k), parameters, load));
    board.setMillis(k, performance.now() - start);
    k = board.claim(seq, chunks.length, owner);
  }
}
