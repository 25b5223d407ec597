import { defineProject } from 'vitest/config';

export default defineProject({
  ssr: { resolve: { conditions: ['@mann/source'] } },
  resolve: { conditions: ['@mann/source'] },
  test: {
    name: 'core',
    include: ['test/**/*.test.ts'],
    // The training-thread tests run the compiled worker script: build core (nx, cached) first.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
