import { defineConfig } from 'vitest/config';

// One root command runs every package's tests; each package has its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ['packages/*'],
  },
});
