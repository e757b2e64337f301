#!/usr/bin/env node
// The `quotagate` command. In a checkout (src/ and the tsx dev dependency present) it runs
// the TypeScript source through tsx, so it can never be a stale build; where those are
// absent (an image built with `npm run build` and production dependencies only) it runs
// the compiled dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const tsx = existsSync(source) ? await import('tsx/esm/api').catch(() => undefined) : undefined;
if (tsx) {
  tsx.register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
