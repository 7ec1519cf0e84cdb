// typescript-eslint, type-checked: lint -> typecheck -> tests (see package.json "test").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'scratch/**', 'bench/out/**', '**/*.js', '**/*.mjs', '**/*.cjs', '!lib/dashboard/static/*.js'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  // the router itself (issue 18): the strict type-checked set. Tests, bench and democli stay
  // on recommendedTypeChecked: strict gives ~1,900 errors there (~900 with numbers allowed in
  // templates): object literals where @stomp/stompjs types headers and config as classes
  // (no-unsafe-class-instance-assignment), `!` and checks on what the untyped clients
  // return, and void arrow shorthands
  ...tseslint.configs.strictTypeChecked.map((c) => ({ ...c, files: ['index.ts', 'lib/**/*.ts', 'gates/**/*.ts'] })),
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json', './test/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after'] }] },
      ],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['index.ts', 'lib/**/*.ts', 'gates/**/*.ts'],
    rules: {
      // numbers in log and error text are the common case (ports, counts, ids) and always print
      // readably; objects, undefined and null still have to be converted on purpose
      // (the strict set's other options are repeated: a partial object would fall back to the lax defaults)
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowAny: false, allowBoolean: false, allowNever: false, allowNullish: false, allowNumber: true, allowRegExp: false },
      ],
    },
  },
  {
    // the core never imports a gate (issue 18; docs/ARCHITECTURE.md "Layout"): what a gate and
    // the core both need, e.g. a protocol's codec, lives in lib/ (lib/wamp/, lib/stomp/, lib/mqtt/)
    files: ['lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/gates', '**/gates/**'],
              message: 'lib/ is the core: it must not import a gate (move shared code into lib/).',
            },
          ],
        },
      ],
    },
  },
  {
    // the dashboard page: plain browser modules, served as they are (no build step)
    files: ['lib/dashboard/static/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', URL: 'readonly', URLSearchParams: 'readonly' },
    },
  },
  {
    // tests and benchmarks drive untyped client libraries (autobahn, wampy, fox-wamp)
    files: ['test/**/*.ts', 'bench/**/*.ts', 'democli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
