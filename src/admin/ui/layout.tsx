import type { Child } from 'hono/jsx';

export const UI_BASE = '/admin/ui';
export const ASSETS = { css: `${UI_BASE}/assets/app.css`, js: `${UI_BASE}/assets/app.js` };

/** A dashboard page: header with navigation and logout (when logged in), then the content. */
export function Layout(props: { title: string; csrf?: string; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf && <meta name="qg-csrf" content={props.csrf} />}
        <title>{props.title} · quotagate admin</title>
        <link rel="stylesheet" href={ASSETS.css} />
        <script src={ASSETS.js} defer></script>
      </head>
      <body>
        <header>
          <a class="brand" href={UI_BASE}>
            quotagate admin
          </a>
          {props.csrf && (
            <>
              <a href={`${UI_BASE}/overview`}>Overview</a>
              <a href={UI_BASE}>Subjects</a>
              <form method="post" action={`${UI_BASE}/logout`}>
                <input type="hidden" name="csrf" value={props.csrf} />
                <button type="submit">Log out</button>
              </form>
            </>
          )}
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}
