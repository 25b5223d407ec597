#!/usr/bin/env node
// Fails when the relative imports of the given source folders form a cycle. Type-only imports
// count: a cycle through types is a type living in the wrong module, and ESLint's cycle rules
// skip them. Usage: node scripts/check-imports.mjs [folder ...] (default: packages/*/src).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const folders =
  process.argv.length > 2
    ? process.argv.slice(2).map((f) => resolve(f))
    : readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'src'));

function sources(folder) {
  if (!existsSync(folder)) return [];
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|mjs|js)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.[^'"]+)['"]/gm;

/** The files each file imports (relative specifiers; `.js` resolves to `.ts` when present). */
function graph(files) {
  const edges = new Map();
  for (const file of files) {
    const targets = [];
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(file), specifier);
      const candidates = [target, target.replace(/\.js$/, '.ts'), `${target}.ts`];
      const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
      if (found) targets.push(found);
    }
    edges.set(file, targets);
  }
  return edges;
}

/** One cycle per strongly connected component of more than one file (Tarjan). */
function cycles(edges) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(component);
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

const files = folders.flatMap(sources);
const found = cycles(graph(files));
for (const component of found) {
  const names = component.map((f) => relative(root, f)).sort();
  console.error(`import cycle: ${names.join(' <-> ')}`);
}
if (found.length > 0) process.exit(1);
console.log(`check-imports: ${files.length} files, no import cycles`);
