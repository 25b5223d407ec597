import { defineProject } from 'vitest/config';

export default defineProject({
  ssr: { resolve: { conditions: ['@mann/source'] } },
  resolve: { conditions: ['@mann/source'] },
  test: {
    name: 'bench',
    include: ['test/**/*.test.ts'],
    // The end-to-end tests run the built CLI: build it (nx, cached) once before them.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
