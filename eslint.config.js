import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'infra/cdk.out/', 'infra/node_modules/', '.data/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', fetch: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Routes must not reach past their feature's queries into another route file.
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/routes.js', '**/routes'], message: 'Nothing imports from a route file; share code through the feature module instead.' }] }],
    },
  },
  {
    files: ['src/app.ts', 'src/features/**/index.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
