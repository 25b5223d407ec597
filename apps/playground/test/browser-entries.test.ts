/**
 * The main entries of core, ntm, dnc and tasks bundle for the browser: Vite (the bundler the
 * playground uses) resolves every module they reach, and none of them is a Node built-in.
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, defaultClientConditions, type Plugin } from 'vite';
import { describe, expect, it } from 'vitest';

const PACKAGES = ['core', 'ntm', 'dnc', 'tasks'] as const;
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Records the Node built-ins a bundle imports, and by whom. */
function builtinRecorder(found: string[]): Plugin {
  return {
    name: 'record-node-builtins',
    enforce: 'pre',
    resolveId(source, importer) {
      if (BUILTINS.has(source) || source.startsWith('node:')) {
        found.push(`${source} (imported by ${importer ?? '?'})`);
        return { id: source, external: true };
      }
      return null;
    },
  };
}

describe('browser bundles of the packages', () => {
  for (const name of PACKAGES) {
    it(`@mann/${name} imports no Node built-in on its main entry`, async () => {
      const entry = fileURLToPath(
        new URL(`../../../packages/${name}/src/index.ts`, import.meta.url),
      );
      const found: string[] = [];
      await build({
        configFile: false,
        logLevel: 'silent',
        plugins: [builtinRecorder(found)],
        resolve: { conditions: ['@mann/source', ...defaultClientConditions] },
        build: {
          write: false,
          target: 'es2022',
          lib: { entry, formats: ['es'], fileName: name },
          // TF.js itself is the page's to bundle; only our modules are checked here.
          rollupOptions: { external: [/^@tensorflow\//] },
        },
      });
      expect(found).toEqual([]);
    });
  }
});
