/**
 * The report in a real browser: Debian's headless Chromium opens the written index.html and
 * must show the charts. Skipped locally when Chromium is missing; fails on CI (env CI set).
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';

import { writeReport } from '../src/report/index.js';
import { reportData, TASKS } from './fixtures/report/report-data.js';
import { markCounts, svgElements } from './fixtures/report/svg.js';

const run = promisify(execFile);

/** Debian's package puts it here; CHROMIUM_PATH overrides. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_TIMEOUT_MS = 60_000;
const EXPECTED_CHARTS = TASKS.length * 2 + 2;
/** A screenshot of the report's first 2,000 px (tables, curves) is far above this. */
const MIN_SCREENSHOT_BYTES = 40_000;

/** Flags for a quiet, offline, throwaway browser. */
function chromiumFlags(profile: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
  ];
}

/** Chromium's path, or skips the test (locally) or fails it (on CI) when there is none. */
function requireChromium(context: TestContext): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const message =
    `Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH to another path); ` +
    'install it with `apt-get install -y chromium`';
  if (process.env.CI) throw new Error(`${message}. The report must be checked in a browser on CI.`);
  return context.skip(`${message}; skipping the browser check.`);
}

describe('the report in headless Chromium', () => {
  let dir = '';
  let reportUrl = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mann-report-chromium-'));
    const { htmlPath } = await writeReport(reportData(), join(dir, 'report'));
    reportUrl = pathToFileURL(htmlPath).href;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs Chromium on the report with `extra` flags in a fresh profile; returns stdout. */
  async function chromium(path: string, name: string, extra: string[]): Promise<string> {
    const profile = await mkdtemp(join(dir, `profile-${name}-`));
    const { stdout } = await run(path, [...chromiumFlags(profile), ...extra, reportUrl], {
      timeout: CHROMIUM_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  }

  it('renders the DOM with every chart and its marks', { timeout: 120_000 }, async (context) => {
    const path = requireChromium(context);
    const dom = await chromium(path, 'dom', ['--dump-dom']);
    expect(dom).toContain('<h1>mann bench: quick suite</h1>');
    const svgs = svgElements(dom);
    expect(svgs).toHaveLength(EXPECTED_CHARTS);
    const counts = svgs.map(markCounts);
    for (const count of counts.slice(0, TASKS.length * 2)) {
      expect(count.line).toBeGreaterThan(0);
    }
    for (const count of counts.slice(TASKS.length * 2)) {
      expect(count.rect).toBeGreaterThan(500);
    }
  });

  it('draws a screenshot that is not blank', { timeout: 120_000 }, async (context) => {
    const path = requireChromium(context);
    const png = join(dir, 'report.png');
    await chromium(path, 'screenshot', [`--screenshot=${png}`, '--window-size=1280,2000']);
    const bytes = await readFile(png);
    expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    // Width and height from the IHDR chunk.
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1280, 2000]);
    expect((await stat(png)).size).toBeGreaterThan(MIN_SCREENSHOT_BYTES);
  });
});
