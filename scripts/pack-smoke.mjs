#!/usr/bin/env node
// Packs every publishable package, installs the tarballs into an empty project outside the
// repository, and runs the first ```js example of each package's README there: the packages
// work as users install them, and the READMEs' examples run as written.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const only = process.argv.slice(2);
const packages = readdirSync(join(root, 'packages')).filter((name) => {
  const readme = join(root, 'packages', name, 'README.md');
  return existsSync(readme) && (only.length === 0 || only.includes(name));
});
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

console.log(`pack-smoke: building ${packages.map((p) => `@mann/${p}`).join(', ')}`);
run(
  'npx',
  [
    'nx',
    'run-many',
    '-t',
    'build',
    '--output-style=static',
    `--projects=${packages.map((p) => `@mann/${p}`).join(',')}`,
  ],
  root,
);

const work = mkdtempSync(join(tmpdir(), 'mann-smoke-'));
try {
  const tarballs = packages.map((name) => {
    const out = run(
      'npm',
      ['pack', '--json', '--pack-destination', work],
      join(root, 'packages', name),
    );
    const [info] = JSON.parse(out);
    const files = info.files.map((f) => f.path);
    for (const required of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/index.js',
      'dist/index.d.ts',
    ]) {
      if (!files.includes(required)) throw new Error(`@mann/${name} tarball lacks ${required}`);
    }
    if (name === 'bench' && !files.includes('bin/mann.js')) {
      throw new Error('@mann/bench tarball lacks bin/mann.js (the mann command)');
    }
    if (files.some((f) => f.startsWith('src/') || f.startsWith('test/'))) {
      throw new Error(`@mann/${name} tarball ships sources or tests`);
    }
    console.log(
      `pack-smoke: @mann/${name}: ${files.length} files, ${(info.size / 1024).toFixed(0)} KiB`,
    );
    return join(work, info.filename);
  });
  const app = join(work, 'app');
  run('mkdir', ['-p', app], work);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'smoke-app', private: true, type: 'module' }, null, 2),
  );
  // --omit=optional skips @tensorflow/tfjs-node, whose install downloads a native library.
  run('npm', ['install', '--no-audit', '--no-fund', '--omit=optional', ...tarballs], app);
  for (const name of packages) {
    const readme = readFileSync(join(root, 'packages', name, 'README.md'), 'utf8');
    const match = readme.match(/```js\n([\s\S]*?)```/);
    if (!match) throw new Error(`packages/${name}/README.md has no \`\`\`js example`);
    const file = join(app, `example-${name}.mjs`);
    writeFileSync(file, match[1]);
    console.log(`pack-smoke: running the @mann/${name} README example`);
    const output = run('node', [file], app);
    process.stdout.write(`${output.trimEnd().replace(/^/gm, `  [${name}] `)}\n`);
  }
  console.log(
    `pack-smoke: the README examples of ${packages.length} packed packages ran in a clean project`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
