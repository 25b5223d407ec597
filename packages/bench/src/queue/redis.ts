// The Redis side of queue mode: the `--queue` URL, connections, and the key names that the
// coordinator and the workers share.
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { MannError } from '@mann/core';

/** Name of the BullMQ queue the runs go through. */
export const QUEUE_NAME = 'mann-runs';
/** Redis stream every worker appends its runs' events to; the coordinator reads and trims it. */
export const EVENTS_KEY = 'mann:events';
/** Key of the coordinator's claim on the queue (see coordinator-lock.ts). */
export const COORDINATOR_KEY = 'mann:coordinator';

/** Key of the latest checkpoint of a run (the serialized checkpoint file, bytes). */
export function checkpointKey(runId: string): string {
  return `mann:checkpoint:${runId}`;
}

/**
 * BullMQ job id of a run: the run id itself, so adding a run that is already queued adds
 * nothing. BullMQ reserves ':' in custom ids, hence the escape (a run id never holds '%').
 */
export function jobIdOf(runId: string): string {
  return runId.replaceAll('%', '%25').replaceAll(':', '%3A');
}

/** A parsed `--queue` URL. */
export interface QueueUrl {
  /** The URL as given. */
  readonly href: string;
  /** The URL with any password masked, for messages. */
  readonly shown: string;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

/**
 * Parses `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS); throws a
 * {@link MannError} naming `flag` and the value when it is not such a URL.
 */
export function parseQueueUrl(value: string, flag = '--queue'): QueueUrl {
  const bad = (why: string): MannError =>
    new MannError(`${flag} must be a Redis URL redis://host:port[/db], got '${value}' (${why})`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad('not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw bad(`scheme '${url.protocol.replace(/:$/, '')}' is not redis or rediss`);
  if (!url.hostname) throw bad('no host');
  if (url.search || url.hash) throw bad('query strings and fragments are not supported');
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw bad(`database '${path}' is not a number`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const db = path === '' ? 0 : Number(path);
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const masked = new URL(url.href);
  if (masked.password) masked.password = '***';
  return {
    href: value,
    shown: masked.href,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    tls: url.protocol === 'rediss:',
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
}

/**
 * ioredis options for long-lived connections (BullMQ's, the event writers'): commands wait
 * while Redis is away (restarts) instead of failing, and the client reconnects forever.
 */
export function connectionOptions(url: QueueUrl): RedisOptions {
  return {
    host: url.host,
    port: url.port,
    db: url.db,
    ...(url.username ? { username: url.username } : {}),
    ...(url.password ? { password: url.password } : {}),
    ...(url.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
}

/**
 * Connects once, without retrying, and checks that Redis answers: a clear error within
 * `timeoutMs` when it cannot be reached, before anything is written anywhere.
 */
export async function checkReachable(url: QueueUrl, timeoutMs = 5000): Promise<void> {
  const client = new Redis({
    ...connectionOptions(url),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => {
    // Reported through the rejected promise below.
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    throw new MannError(
      `cannot reach Redis at ${url.shown}: ${(error as Error).message || String(error)}`,
    );
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** A long-lived connection (see {@link connectionOptions}); its errors go to `onError`. */
export function openConnection(url: QueueUrl, onError?: (error: Error) => void): Redis {
  const client = new Redis(connectionOptions(url));
  client.on('error', (error: Error) => onError?.(error));
  return client;
}

/** `host/pid`, naming this process in the report and in messages. */
export function processName(): string {
  return `${hostname()}/${process.pid}`;
}

/**
 * What is wrong with a Redis's settings for a queue that must survive restarts and never lose a
 * job: given its `maxmemory-policy` and whether the append-only file is on (`undefined`: not
 * known, e.g. CONFIG disabled on a managed Redis).
 */
export function settingsWarnings(settings: {
  readonly maxmemoryPolicy?: string;
  readonly appendonly?: string;
}): string[] {
  const warnings: string[] = [];
  if (settings.maxmemoryPolicy !== undefined && settings.maxmemoryPolicy !== 'noeviction')
    warnings.push(
      `Redis evicts keys (maxmemory-policy ${settings.maxmemoryPolicy}): jobs, events and checkpoints may vanish; set maxmemory-policy noeviction`,
    );
  if (settings.appendonly !== undefined && settings.appendonly !== 'yes')
    warnings.push(
      'Redis runs without its append-only file (appendonly no): a Redis restart loses the queue; set appendonly yes',
    );
  return warnings;
}

/** {@link settingsWarnings} of the Redis at `url` (none when it does not let us read its CONFIG). */
export async function productionWarnings(url: QueueUrl): Promise<string[]> {
  const client = new Redis({
    ...connectionOptions(url),
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  const read = async (name: string): Promise<string | undefined> => {
    try {
      const reply = (await client.config('GET', name)) as string[];
      return reply[1];
    } catch {
      return undefined;
    }
  };
  try {
    return settingsWarnings({
      maxmemoryPolicy: await read('maxmemory-policy'),
      appendonly: await read('appendonly'),
    });
  } finally {
    client.disconnect();
  }
}
