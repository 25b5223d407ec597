import { defineProject } from 'vitest/config';

export default defineProject({
  ssr: { resolve: { conditions: ['@mann/source'] } },
  resolve: { conditions: ['@mann/source'] },
  test: {
    name: 'ntm',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
