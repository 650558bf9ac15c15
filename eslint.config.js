// Lint with type information: floating and misused promises, exhaustive switches (STYLE.md, "Code").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.waveos-dev/**', '.release/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['daemon/**/*.ts', 'fleet/**/*.ts', 'test/**/*.ts', 'hil-sim/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.lint.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // The untyped journal state calls stay for tests that store a value no schema allows; the code itself
    // reads and writes state through the registry's typed accessors only.
    files: ['daemon/**/*.ts', 'hil-sim/**/*.ts'],
    ignores: ['daemon/**/*.test.ts'],
    rules: { '@typescript-eslint/no-deprecated': 'error' },
  },
  {
    files: ['bench/**/*.mjs', 'scripts/**/*.mjs', 'bin/**/*.js', 'hil-sim/**/*.js', 'hil-sim/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly' } },
  },
);
