import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

const page = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

// Cross-origin isolation (COOP same-origin + COEP require-corp) for the dev and preview servers:
// a page gets SharedArrayBuffer and Atomics.wait only when isolated, and multi-threaded training
// (`workers` > 1) needs them. Every resource of the page is same-origin, so nothing else changes.
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// The workspace packages are resolved from their TypeScript sources (the `@mann/source` export
// condition), so the page builds without building them first. Workers are ES modules, like the
// page. `base: './'` lets the built page be served from any path or opened from a folder.
export default defineConfig({
  base: './',
  resolve: { conditions: ['@mann/source', ...defaultClientConditions] },
  worker: { format: 'es' },
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  build: {
    target: 'es2022',
    outDir: 'dist',
    chunkSizeWarningLimit: 4096,
    // The playground, the check of the fused paths on every browser backend, and the check of
    // the training threads.
    rollupOptions: {
      input: {
        main: page('index.html'),
        backends: page('backends.html'),
        threads: page('threads.html'),
      },
    },
  },
});
