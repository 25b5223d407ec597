import { defineProject } from 'vitest/config';

export default defineProject({
  ssr: { resolve: { conditions: ['@mann/source'] } },
  resolve: { conditions: ['@mann/source'] },
  test: {
    name: 'tasks',
    // The tests share no mutable state (registry tests unregister what they add); reusing the
    // module cache across files loads TensorFlow.js (via @mann/core) once per worker, not per file.
    isolate: false,
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
