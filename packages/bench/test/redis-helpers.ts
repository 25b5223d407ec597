// A throwaway redis-server for the queue tests: on loopback, a free port, a scratch directory,
// append-only file on, no RDB snapshots. Every process the tests start is tracked so that
// `stopAll` leaves none behind, also when a test fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** Whether Debian's redis-server is installed (`.ci/run` installs it). */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const started = new Set<ChildProcess>();

/** Tracks a process for {@link stopAll}. */
export function track<T extends ChildProcess>(child: T): T {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** Ends a process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Ends every tracked process (workers, coordinators, redis-servers). */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((c) => stop(c)));
}

/** A redis-server the tests own. */
export class TestRedis {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Starts redis-server on a free loopback port with its files in `dir`. */
  static async start(dir: string): Promise<TestRedis> {
    const redis = new TestRedis(await freePort(), dir);
    await redis.restart();
    return redis;
  }

  /** `redis://127.0.0.1:<port>/<db>` */
  url(db: number): string {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  /** Starts the server (again, on the same port and files) and waits until it answers. */
  async restart(): Promise<void> {
    this.process = track(
      spawn(
        'redis-server',
        [
          '--port',
          String(this.port),
          '--bind',
          '127.0.0.1',
          '--dir',
          this.dir,
          '--save',
          '',
          '--appendonly',
          'yes',
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      ),
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = new Redis({
        port: this.port,
        host: '127.0.0.1',
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      });
      client.on('error', () => {});
      try {
        await client.connect();
        // Loading the append-only file answers LOADING errors until done.
        if ((await client.ping()) === 'PONG') return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`redis-server on port ${this.port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        client.disconnect();
      }
    }
  }

  /** Shuts the server down (SIGTERM: it writes its append-only file and exits). */
  async shutdown(): Promise<void> {
    if (this.process) await stop(this.process);
  }

  /** A client on database `db`, for looking at what the queue left. */
  client(db: number): Redis {
    return new Redis({ port: this.port, host: '127.0.0.1', db, lazyConnect: true });
  }
}
