/**
 * Training threads in the browser: the playground's pages built with Vite, served cross-origin
 * isolated by Vite's preview server, driven in Debian's headless Chromium (playwright-core). The
 * threads check page (threads.html) runs a trainer in a Web Worker whose training threads are
 * nested Web Workers; Playwright sees every worker, nested ones included, and their closing.
 * Skipped locally when Chromium is missing; fails on CI (env CI set).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { EqualResult, FailResult } from '../src/threads-check-worker.js';
import { THREAD_FAILURE } from '../src/thread-probe.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function requireChromium(context: TestContext): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const message = `Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH); install it with \`apt-get install -y chromium\``;
  if (process.env.CI)
    throw new Error(`${message}. The training threads must be checked in a browser on CI.`);
  return context.skip(`${message}; skipping the browser check.`);
}

/** The training threads running on a page: workers on one of the thread scripts. */
const THREAD_SCRIPT = /\/assets\/(training-thread|threads-check-thread)-[^/]+\.js$/;

interface Opened {
  page: Page;
  console: string[];
  /** Training threads started on the page so far, and those still running. */
  threads: { started: number; running: () => number; closed: () => Promise<void> };
}

describe('training threads in headless Chromium', () => {
  let outDir = '';
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;
  let url = '';

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'mann-threads-'));
    await build({ root: ROOT, logLevel: 'error', build: { outDir, emptyOutDir: true } });
    server = await preview({
      root: ROOT,
      logLevel: 'error',
      build: { outDir },
      preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false },
    });
    const address = server.httpServer.address() as AddressInfo;
    url = `http://127.0.0.1:${address.port}/`;
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  async function open(context: TestContext, path: string): Promise<Opened> {
    browser ??= await chromium.launch({
      executablePath: requireChromium(context),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage();
    const messages: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') messages.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => messages.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => messages.push(`request failed: ${r.url()}`));
    let running = 0;
    let changed = (): void => undefined;
    const threads = {
      started: 0,
      running: () => running,
      /**
       * Resolves once no training thread runs (Playwright reported every one closed), or after
       * 10 s: then `running()` tells how many still run.
       */
      closed: () =>
        new Promise<void>((resolve) => {
          if (running === 0) resolve();
          else changed = () => running === 0 && resolve();
          setTimeout(resolve, 10_000);
        }),
    };
    page.on('worker', (worker) => {
      if (!THREAD_SCRIPT.test(worker.url())) return;
      threads.started++;
      running++;
      worker.on('close', () => {
        running--;
        changed();
      });
    });
    await page.goto(`${url}${path}`);
    return { page, console: messages, threads };
  }

  const ready = (page: Page) =>
    page.waitForFunction(
      () => document.querySelector('#status')?.getAttribute('data-state') === 'ready',
    );

  it('2 threads give the loss and parameters of 1 thread after 3 steps; disposing the trainer ends its thread', async (context) => {
    const { page, console: messages, threads } = await open(context, 'threads.html');
    await ready(page);
    const page_ = await page.evaluate(() => {
      const check = (globalThis as unknown as { threadsCheck: Record<string, unknown> })
        .threadsCheck;
      return { isolated: check.isolated, mainThreadError: check.mainThreadError };
    });
    expect(page_.isolated).toBe(true);
    // On the page's own main thread a trainer with threads is refused, saying why.
    expect(page_.mainThreadError).toMatch(/^workers: 2 needs the Trainer to run in a Web Worker/);
    const result = (await page.evaluate(() =>
      (
        globalThis as unknown as { threadsCheck: { run(c: string): Promise<unknown> } }
      ).threadsCheck.run('equal'),
    )) as EqualResult;
    // A step before the threads have started names the method to call.
    expect(result.stepBeforeStart).toContain('call await trainer.startThreads() before trainStep');
    const [one, two] = result.losses;
    expect(one).toHaveLength(3);
    for (let s = 0; s < 3; s++) {
      expect(Number.isFinite(one[s])).toBe(true);
      expect(Math.abs(two[s]! - one[s]!), `loss of step ${s + 1}`).toBeLessThanOrEqual(
        1e-5 * Math.max(1, Math.abs(one[s]!)),
      );
      const [g1, g2] = [result.gradNorms[0][s]!, result.gradNorms[1][s]!];
      expect(Math.abs(g2 - g1), `gradient norm of step ${s + 1}`).toBeLessThanOrEqual(
        1e-5 * Math.max(1, g1),
      );
    }
    expect(one[2]).not.toBe(one[0]); // the steps trained
    expect(result.parameterCount).toBeGreaterThan(1000);
    expect(result.maxParameterDifference).toBeLessThanOrEqual(1e-5);
    console.info(
      `threads in Chromium: losses 1 thread ${one.map((l) => l.toFixed(6)).join(', ')}; 2 threads ${two.map((l) => l.toFixed(6)).join(', ')}; largest parameter difference ${result.maxParameterDifference.toExponential(2)} over ${result.parameterCount} parameters`,
    );
    // The 2-thread trainer is kept: its one training thread runs until it is disposed.
    expect(threads.started).toBe(1);
    expect(threads.running()).toBe(1);
    expect(
      await page.evaluate(() =>
        (
          globalThis as unknown as { threadsCheck: { run(c: string): Promise<unknown> } }
        ).threadsCheck.run('dispose'),
      ),
    ).toEqual({ disposed: true });
    await threads.closed();
    expect(threads.running()).toBe(0);
    expect(messages).toEqual([]);
    await page.close();
  });

  it('a thread that throws fails the step with its message; a thread that cannot start fails startThreads()', async (context) => {
    const { page, console: messages, threads } = await open(context, 'threads.html');
    await ready(page);
    const result = (await page.evaluate(() =>
      (
        globalThis as unknown as { threadsCheck: { run(c: string): Promise<unknown> } }
      ).threadsCheck.run('fail'),
    )) as FailResult;
    expect(result.stepError).toBe(`training thread 2 of 2 failed: ${THREAD_FAILURE}`);
    expect(result.steps).toBe(0);
    // The failure stopped the threads: the next step asks for a new start.
    expect(result.nextStep).toMatch(
      /call await trainer\.startThreads\(\) before trainStep \(the threads stopped after a failure/,
    );
    expect(result.startError).toContain(
      "training thread 2 of 2 could not start: unknown model type 'thread-probe'; known types: ",
    );
    expect(threads.started).toBe(2);
    await threads.closed();
    expect(threads.running()).toBe(0);
    expect(messages).toEqual([]);
    await page.close();
  });

  it('the playground trains on 2 threads when asked, and its thread ends when training stops', async (context) => {
    const {
      page,
      console: messages,
      threads,
    } = await open(context, '?autostart=1&threads=2&model=lstm&task=copy&batchSize=8');
    expect(await page.isVisible('select[name=threads]')).toBe(true);
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { playground: { curve: unknown[] } }).playground.curve.length >=
        3,
    );
    expect(await page.textContent('#status')).toMatch(/sequences/);
    expect(threads.started).toBe(1);
    expect(threads.running()).toBe(1);
    await page.click('#stop');
    await page.waitForFunction(
      () => document.querySelector('#status')?.getAttribute('data-state') === 'stopped',
    );
    await threads.closed();
    expect(threads.running()).toBe(0);
    const state = await page.evaluate(
      () => (globalThis as unknown as { playground: { errors: string[] } }).playground.errors,
    );
    expect(state).toEqual([]);
    expect(messages).toEqual([]);
    await page.close();
  });
});
