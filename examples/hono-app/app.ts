import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@quotagate/client';
import { quota, type QuotaVariables } from '@quotagate/client/hono';
import { Hono } from 'hono';
import { html } from 'hono/html';

export interface ExampleOptions {
  /** The quotagate gateway; it must list this app's origin in QG_CORS_ORIGINS. */
  gatewayUrl: string;
  /**
   * The API key of the signed-in user's subject. A real app keeps one key per customer (from
   * `quotagate keys create`) and picks it from the session; this example has one user.
   */
  apiKey: string;
}

/** Where the package's built browser modules are, served under /quotagate/ (a bundler would do this in a real app). */
const widgetDir = dirname(fileURLToPath(import.meta.resolve('@quotagate/client/web-component')));

/**
 * The example app: its own API protected by the middleware (a generation costs one
 * `ai_generations`; a project is a gauge), and a page whose usage bars come live from the
 * gateway with a usage token this backend mints. The API key never leaves the server.
 */
export function createExampleApp(options: ExampleOptions): Hono<{ Variables: QuotaVariables }> {
  const client = createClient({ baseUrl: options.gatewayUrl, apiKey: options.apiKey });
  const app = new Hono<{ Variables: QuotaVariables }>();

  app.get('/', (c) =>
    c.html(
      html`<!doctype html>
        <html lang="en">
          <head>
            <meta charset="utf-8" />
            <title>quotagate example</title>
            <script type="module" src="/quotagate/web-component.js"></script>
          </head>
          <body>
            <h1>Your usage</h1>
            <quotagate-usage gateway="${options.gatewayUrl}" token-url="/usage-token"></quotagate-usage>
            <button id="generate">Generate</button>
            <button id="create">Create a project</button>
            <pre id="out"></pre>
            <script type="module">
              const out = document.getElementById('out');
              const call = async (method, path) => {
                const res = await fetch(path, { method });
                out.textContent = res.status + ' ' + (await res.text());
              };
              document.getElementById('generate').onclick = () => call('POST', '/api/generate');
              document.getElementById('create').onclick = () => call('POST', '/api/projects');
            </script>
          </body>
        </html>`,
    ),
  );

  // The page's usage token: read-only, this subject only, 15 minutes. Behind the app's own login in a real app.
  app.get('/usage-token', async (c) => {
    const { token } = await client.mintUsageToken();
    return c.json({ token }, 200, { 'cache-control': 'no-store' });
  });

  app.post('/api/generate', quota({ client, charges: [{ metric: 'ai_generations', amount: 1 }] }), (c) => {
    const { metrics } = c.get('quota');
    return c.json({ text: 'Hello from the model', ai_generations_used: metrics.find((m) => m.metric === 'ai_generations')?.used });
  });
  app.post('/api/projects', quota({ client, charges: [{ metric: 'projects', amount: 1 }] }), (c) => c.json({ id: crypto.randomUUID() }, 201));
  app.delete('/api/projects/:id', quota({ client, release: [{ metric: 'projects', amount: 1 }] }), (c) => c.json({ deleted: c.req.param('id') }));

  app.get('/quotagate/*', async (c) => {
    const file = normalize(join(widgetDir, c.req.path.slice('/quotagate/'.length)));
    if (!file.startsWith(widgetDir + sep) || !file.endsWith('.js')) return c.notFound();
    const source = await readFile(file).catch(() => null);
    return source ? c.body(source, 200, { 'content-type': 'text/javascript; charset=utf-8' }) : c.notFound();
  });
  return app;
}
