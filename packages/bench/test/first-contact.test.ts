// The first commands a new user types in the repository: `npx mann` runs this CLI (npm links its
// bin before anything is built), and `npm run mann -- --help` prints the help, not the build.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './cli-helpers.js';

const BENCH = join(REPO_ROOT, 'packages/bench');

describe('npx mann in the repository', () => {
  it('the bin is a file of the sources, so npm ci links it before the first build', () => {
    const manifest = JSON.parse(readFileSync(join(BENCH, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      files: string[];
    };
    const bin = manifest.bin.mann!;
    // npm skips a bin whose file does not exist at install time (dist/ is not built yet then)
    expect(bin.startsWith('./dist/')).toBe(false);
    expect(existsSync(join(BENCH, bin))).toBe(true);
    expect(manifest.files).toContain(bin.replace(/^\.\//, '').split('/')[0]);
    expect(readFileSync(join(BENCH, bin), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('runs this CLI, never a package from the registry', () => {
    const result = spawnSync('npx', ['--no-install', 'mann', '--help'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Usage: mann \[options\] \[command\]\n\nMemory-augmented/);
  });
});

describe('npm run mann', () => {
  it('-- --help prints the help first and alone (the build is quiet)', () => {
    const result = spawnSync('npm', ['run', '--silent', 'mann', '--', '--help'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Usage: mann \[options\] \[command\]\n/);
    expect(result.stderr).toBe('');
  });
});
