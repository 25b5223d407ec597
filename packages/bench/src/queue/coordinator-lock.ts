// One coordinator per queue: the coordinator is the only writer of the results store, and the
// only reader (and trimmer) of the events stream, so a second one must not start.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { MannError } from '@mann/core';
import { COORDINATOR_KEY } from './redis.js';

/** How long a claim lasts without renewal: a coordinator on another host that died frees the queue after this. */
export const CLAIM_TTL_MS = 15_000;

/** Who holds the claim. */
interface Holder {
  readonly host: string;
  readonly pid: number;
  readonly since: string;
  readonly results: string;
  readonly token: string;
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) else return 0 end`;
const TAKE_OVER = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return false end`;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The coordinator's claim on a queue, renewed until released. */
export class CoordinatorClaim {
  private timer: NodeJS.Timeout | undefined;
  private lost = false;

  private constructor(
    private readonly redis: Redis,
    private readonly value: string,
  ) {}

  /**
   * Claims the queue for this process, or throws a {@link MannError} naming the coordinator that
   * holds it. A claim left by a dead process on this host is taken over at once; one from another
   * host expires {@link CLAIM_TTL_MS} after its coordinator stopped renewing it.
   */
  static async acquire(redis: Redis, results: string, queue: string): Promise<CoordinatorClaim> {
    const holder: Holder = {
      host: hostname(),
      pid: process.pid,
      since: new Date().toISOString(),
      results,
      token: randomUUID(),
    };
    const value = JSON.stringify(holder);
    const claim = new CoordinatorClaim(redis, value);
    if ((await redis.set(COORDINATOR_KEY, value, 'PX', CLAIM_TTL_MS, 'NX')) === 'OK') {
      claim.renewEvery(CLAIM_TTL_MS / 3);
      return claim;
    }
    const current = await redis.get(COORDINATOR_KEY);
    const other = current ? (JSON.parse(current) as Holder) : undefined;
    if (current && other && other.host === holder.host && !alive(other.pid)) {
      if (
        (await redis.eval(TAKE_OVER, 1, COORDINATOR_KEY, current, value, CLAIM_TTL_MS)) !== null
      ) {
        claim.renewEvery(CLAIM_TTL_MS / 3);
        return claim;
      }
    }
    if (!current) return CoordinatorClaim.acquire(redis, results, queue);
    throw new MannError(
      other
        ? `another mann bench is already the coordinator of queue ${queue} (host ${other.host}, pid ${other.pid}, since ${other.since}, results ${other.results}); only one may collect a queue's results. Wait for it to finish or stop it; a stopped coordinator's claim expires within ${CLAIM_TTL_MS / 1000} s`
        : `queue ${queue} is claimed by another coordinator`,
    );
  }

  private renewEvery(ms: number): void {
    this.timer = setInterval(() => {
      this.redis.eval(RENEW, 1, COORDINATOR_KEY, this.value, CLAIM_TTL_MS).then(
        (renewed) => {
          if (renewed === 0) this.lost = true;
        },
        () => {
          // Redis away for a moment: the next renewal tries again.
        },
      );
    }, ms);
    this.timer.unref();
  }

  /** Whether another coordinator took the queue over (this one was stalled past the TTL). */
  get isLost(): boolean {
    return this.lost;
  }

  /** Gives the queue up. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.eval(RELEASE, 1, COORDINATOR_KEY, this.value);
  }
}
