import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

/**
 * @quotagate/client as a user gets it: `npm pack`, installed into a new app from the
 * tarball, imported by its public name (ESM, subpath exports), run against a real gateway,
 * and type-checked by tsc on a consumer file (its .d.ts files included).
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = join(ROOT, 'packages/client');
const TSC = join(ROOT, 'node_modules/.bin/tsc');

let gw: GatewayFixture;
let app: string;
beforeAll(async () => {
  if (!existsSync(join(PACKAGE, 'dist/index.js'))) throw new Error('packages/client is not built: `npm test` builds it, or run `npm run build -w @quotagate/client`');
  gw = await startGatewayFixture();
  app = await mkdtemp(join(tmpdir(), 'qg-client-app-'));
  // The build is `npm test`'s first step; packing must not rebuild it under the other test files' feet.
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', app], { cwd: PACKAGE });
}, 120_000);
afterAll(async () => {
  await gw?.close();
  if (app) await rm(app, { recursive: true, force: true });
});

describe('the packed @quotagate/client', () => {
  it('holds the built modules, their types and the README, no sources or tests', async () => {
    const tarball = (await readdir(app)).find((f) => f.endsWith('.tgz'))!;
    const { stdout } = await run('tar', ['-tzf', join(app, tarball)]);
    const files = stdout.trim().split('\n');
    for (const f of [
      'package/package.json',
      'package/README.md',
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/middleware/hono.js',
      'package/dist/web-component.js',
    ]) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.includes('/src/') || f.includes('test'))).toEqual([]);
  });

  it('installs into an app, imports by its public name and runs against a gateway; its types resolve', async () => {
    const tarball = (await readdir(app)).find((f) => f.endsWith('.tgz'))!;
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', `./${tarball}`, '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], { cwd: app });

    await writeFile(
      join(app, 'main.mjs'),
      `import { createClient, QuotagateError } from '@quotagate/client';
import { withQuota } from '@quotagate/client/next';
import { watchUsage } from '@quotagate/client/usage';
const client = createClient({ baseUrl: process.env.GATEWAY, apiKey: process.env.KEY });
const decision = await client.consume({ charges: [{ metric: 'gens', amount: 2 }] });
const usage = await client.usage();
const err = await createClient({ baseUrl: process.env.GATEWAY, apiKey: 'qg_wrong' }).usage().catch((e) => e);
console.log(JSON.stringify({ allowed: decision.allowed, used: usage.metrics.find((m) => m.metric === 'gens').used,
  error: err instanceof QuotagateError ? err.code : null, next: typeof withQuota, watch: typeof watchUsage }));
`,
    );
    const subject = await gw.createSubject();
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: app, env: { ...process.env, GATEWAY: gw.url, KEY: subject.key } });
    expect(JSON.parse(stdout)).toEqual({ allowed: true, used: 2, error: 'unauthorized', next: 'function', watch: 'function' });

    await writeFile(
      join(app, 'consumer.ts'),
      `import { createClient, isQuotagateError, type ConsumeDecision, type UsageStatus } from '@quotagate/client';
import { withQuota, type QuotaContext } from '@quotagate/client/next';
import { watchUsage, type Usage } from '@quotagate/client/usage';

const client = createClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'qg_x' });
export async function charge(): Promise<number | null> {
  const decision: ConsumeDecision = await client.consume({ charges: [{ metric: 'ai_generations', amount: 1 }] });
  if (decision.allowed) return decision.metrics[0]?.used ?? 0;
  // A denial is a value, narrowed by its reason.
  if (decision.reason === 'quota') return decision.problem.remaining;
  const wait: number = decision.retryAfterSeconds;
  return wait;
}
export const POST = withQuota(async (_req: Request, ctx: { quota: QuotaContext }) => Response.json({ id: ctx.quota.reservationId }), {
  client,
  charges: [{ metric: 'ai_generations', amount: 1 }],
});
export const status: UsageStatus = 'warning';
watchUsage({ baseUrl: '', getToken: async () => 'qgu_x', onUsage: (u: Usage) => void u.metrics.map((m) => m.percent) });
export const known = (e: unknown) => isQuotagateError(e, 'backend_unavailable');
// @ts-expect-error: the problem is only there once the decision is known to be a denial
export const wrong = async () => (await client.consume({ charges: [] })).problem;
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, lib: ['es2022', 'dom'], types: [] },
        files: ['consumer.ts'],
      }),
    );
    const checked = await run(TSC, ['-p', 'tsconfig.json'], { cwd: app }).then(
      () => 'ok',
      (e: { stdout: string }) => e.stdout,
    );
    expect(checked).toBe('ok');
  });
});
