import { defaultClientConditions, defineConfig } from 'vite';

// The workspace packages are resolved from their TypeScript sources (the `@mann/source` export
// condition), so the page builds without building them first. Workers are ES modules, like the
// page. `base: './'` lets the built page be served from any path or opened from a folder.
export default defineConfig({
  base: './',
  resolve: { conditions: ['@mann/source', ...defaultClientConditions] },
  worker: { format: 'es' },
  build: { target: 'es2022', outDir: 'dist', chunkSizeWarningLimit: 4096 },
});
