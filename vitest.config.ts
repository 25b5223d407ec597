import { defineConfig } from 'vitest/config';

// One root command runs every package's tests; each package has its own vitest.config.ts.
// The JSON report feeds the one-line summary that .ci/run prints at the end.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
    reporters: ['default', ['json', { outputFile: '.tmp/vitest-report.json' }]],
  },
});
