// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { defineConfig } from 'eslint/config';

/**
 * `npm run lint` (part of `npm test`): ESLint's and typescript-eslint's recommended rules on
 * every source, test and benchmark file; formatting is prettier's (`npm run format`).
 */
export default defineConfig(
  // What .gitignore leaves out (build output, local data, scratch files).
  { ignores: ['**/dist/', '**/node_modules/', 'coverage/', '.data/', '.scratch/', '.quotagate/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // `const { omitted: _, ...rest } = x` drops a member: that is its use.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  // Plain JavaScript (the launcher, configuration files) runs on Node.
  { files: ['**/*.js'], languageOptions: { globals: globals.node } },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: globals.node } },
);
