import { html, raw } from 'hono/html';

interface Operation {
  summary?: string;
  security?: unknown[];
}

/**
 * A readable page of every operation in the OpenAPI document, rendered on the server: it
 * works offline, where a Swagger UI loaded from a CDN would not.
 */
export function docsPage(document: { info: { title: string; version: string }; paths?: object }) {
  const paths = (document.paths ?? {}) as Record<string, Record<string, Operation>>;
  const rows = Object.entries(paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(
      ([method, op]) =>
        html`<tr>
          <td><code>${method.toUpperCase()}</code></td>
          <td><code>${path}</code></td>
          <td>${op.summary ?? ''}</td>
          <td>${op.security?.length ? 'yes' : 'no'}</td>
        </tr>`,
    ),
  );
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${document.info.title} API</title>
        <style>
          body {
            font:
              15px/1.5 system-ui,
              sans-serif;
            margin: 2rem auto;
            max-width: 70rem;
            padding: 0 1rem;
          }
          table {
            border-collapse: collapse;
            width: 100%;
          }
          td,
          th {
            border-bottom: 1px solid #ddd;
            padding: 0.4rem;
            text-align: left;
            vertical-align: top;
          }
          code {
            font-size: 0.9em;
          }
        </style>
      </head>
      <body>
        <h1>${document.info.title} ${document.info.version}</h1>
        <p>
          The machine-readable description is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1), generated from the same zod schemas that validate requests. Errors are
          <code>application/problem+json</code> with a stable <code>code</code>.
        </p>
        <table>
          <thead>
            <tr>
              <th>Method</th>
              <th>Path</th>
              <th>What it does</th>
              <th>Auth</th>
            </tr>
          </thead>
          <tbody>
            ${raw(rows.join(''))}
          </tbody>
        </table>
      </body>
    </html>`;
}
