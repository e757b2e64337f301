import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { Time } from './time.js';

/** Newest rows of each table the subject page shows. */
const ROWS = 25;

interface LedgerRow {
  event_id: string;
  occurred_at: string;
  metric: string;
  kind: string;
  delta: number;
  value_after: number | null;
  context: Record<string, unknown>;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  reason: string | null;
  details: Record<string, unknown>;
}

type Loaded<T> = { items: T[] } | { error: string };

/**
 * GET from the admin JSON API in-process, with the browser's own session cookie: the page
 * shows exactly what /admin/v1 answers (same queries, filters and checks), nothing re-queried.
 */
async function fromAdminApi<T>(app: OpenAPIHono, c: Context, path: string): Promise<Loaded<T>> {
  const response = await app.request(path, { headers: { cookie: c.req.header('cookie') ?? '' } });
  const body = (await response.json()) as { items?: T[]; detail?: string };
  return response.ok && body.items ? { items: body.items } : { error: body.detail ?? `${path} answered ${response.status}` };
}

export const loadHistory = async (app: OpenAPIHono, c: Context, subjectId: string) => {
  const subject = encodeURIComponent(subjectId);
  const [ledger, audit] = await Promise.all([
    fromAdminApi<LedgerRow>(app, c, `/admin/v1/ledger?subject=${subject}&limit=${ROWS}`),
    fromAdminApi<AuditRow>(app, c, `/admin/v1/audit?subject=${subject}&limit=${ROWS}`),
  ]);
  return { ledger, audit };
};

function Rows<T>(props: { loaded: Loaded<T>; columns: number; empty: string; row: (item: T) => unknown }) {
  if ('error' in props.loaded) {
    return (
      <tr>
        <td colspan={props.columns} class="error">
          {props.loaded.error}
        </td>
      </tr>
    );
  }
  if (props.loaded.items.length === 0) {
    return (
      <tr>
        <td colspan={props.columns} class="muted">
          {props.empty}
        </td>
      </tr>
    );
  }
  return <>{props.loaded.items.map(props.row)}</>;
}

export function LedgerTable({ ledger }: { ledger: Loaded<LedgerRow> }) {
  return (
    <table data-ledger>
      <thead>
        <tr>
          <th>When</th>
          <th>Kind</th>
          <th>Metric</th>
          <th>Change</th>
          <th>After</th>
          <th>Event</th>
        </tr>
      </thead>
      <tbody>
        <Rows
          loaded={ledger}
          columns={6}
          empty="No events in the ledger yet (the worker writes them a moment after they happen)."
          row={(e) => (
            <tr data-kind={e.kind}>
              <td class="muted">
                <Time at={e.occurred_at} />
              </td>
              <td>{e.kind}</td>
              <td>
                <code>{e.metric}</code>
              </td>
              <td>{e.delta > 0 ? `+${e.delta}` : e.delta}</td>
              <td>{e.value_after ?? ''}</td>
              <td class="muted">
                <code>{e.event_id}</code>
              </td>
            </tr>
          )}
        />
      </tbody>
    </table>
  );
}

export function AuditTable({ audit }: { audit: Loaded<AuditRow> }) {
  return (
    <table data-audit>
      <thead>
        <tr>
          <th>When</th>
          <th>Who</th>
          <th>Action</th>
          <th>Reason</th>
          <th>Details</th>
        </tr>
      </thead>
      <tbody>
        <Rows
          loaded={audit}
          columns={5}
          empty="No audited changes."
          row={(a) => (
            <tr data-action={a.action}>
              <td class="muted">
                <Time at={a.at} />
              </td>
              <td>{a.actor}</td>
              <td>{a.action}</td>
              <td>{a.reason ?? ''}</td>
              <td class="muted">
                <code>{JSON.stringify(a.details)}</code>
              </td>
            </tr>
          )}
        />
      </tbody>
    </table>
  );
}
