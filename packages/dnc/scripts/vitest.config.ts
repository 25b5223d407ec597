import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

// Runs the measurement scripts (not part of the test suite), from the repository root:
//   npx vitest run --config packages/dnc/scripts/vitest.config.ts [step-times | kernel-counts]
export default defineProject({
  ssr: { resolve: { conditions: ['@mann/source'] } },
  resolve: { conditions: ['@mann/source'] },
  cacheDir: fileURLToPath(new URL('../../../node_modules/.vite', import.meta.url)),
  test: {
    name: 'dnc-scripts',
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['*.script.ts'],
    testTimeout: 3_600_000,
  },
});
