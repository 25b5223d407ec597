// ESLint flat config: recommended JS + typescript-eslint rules for every package, and the seam
// between each model's reference and its fast path (docs/architecture.md). Import cycles are
// checked by scripts/check-imports.mjs (type-only imports included).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The reference implementations: composed TF.js ops that read like docs/spec.md. They never
// import fused code: each model's `implementation.ts` picks between the reference and the fused
// subclass, and the models build through it (core's LSTM controller picks its own ops).
const referenceFiles = [
  'packages/core/src/math/**/*.ts',
  'packages/core/src/controllers/lstm.ts',
  'packages/core/src/controllers/feedforward.ts',
  'packages/ntm/src/addressing.ts',
  'packages/ntm/src/heads.ts',
  'packages/ntm/src/memory-ops.ts',
  'packages/ntm/src/memory.ts',
  'packages/ntm/src/model.ts',
  'packages/ntm/src/config.ts',
  'packages/dnc/src/allocation.ts',
  'packages/dnc/src/config.ts',
  'packages/dnc/src/interface.ts',
  'packages/dnc/src/memory.ts',
  'packages/dnc/src/model.ts',
  'packages/dnc/src/ops.ts',
  'packages/dnc/src/read.ts',
  'packages/dnc/src/sharpness.ts',
  'packages/dnc/src/sparse-link.ts',
  'packages/dnc/src/temporal-link.ts',
  'packages/dnc/src/usage.ts',
  'packages/dnc/src/write.ts',
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', 'docs/api/**', 'results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: referenceFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/fused/**', '@mann/core/fused', './fused'],
              message: 'reference code never imports fused code (docs/architecture.md)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', 'scripts/**', 'packages/*/bin/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
