import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that a test can cut: point a client's URL at it (`rewrite`), then
 * `block()` drops every connection through it and refuses or holds new ones until
 * `unblock()`. For outages of one client's path to a service (the worker's Postgres) while
 * everything else keeps the real service.
 */

export type BlockMode =
  /** New connections are accepted and closed at once (like a reset). */
  | 'refuse'
  /** New connections are accepted and left hanging (like a black hole); unblock() connects them through. */
  | 'hold';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  /** Connections made through the proxy so far (forwarded ones). */
  readonly forwarded: number;
  /** Connection attempts that arrived while blocked. */
  readonly blockedAttempts: number;
  /** Destroys every connection through the proxy; new ones are refused or held. */
  block(mode?: BlockMode): void;
  /** Lets connections through again; held ones that are still open are connected now. */
  unblock(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const held = new Set<Socket>();
  let mode: BlockMode | null = null;
  let forwarded = 0;
  let blockedAttempts = 0;

  const forward = (client: Socket) => {
    forwarded++;
    const upstream = connect(target);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    client.on('error', () => {});
    if (mode === null) return forward(client);
    blockedAttempts++;
    if (mode === 'refuse') return void client.destroy();
    held.add(client);
    client.once('close', () => held.delete(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('the proxy has no port');
  const port = address.port;

  const dropAll = () => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return {
    host: '127.0.0.1',
    port,
    rewrite(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    get forwarded() {
      return forwarded;
    },
    get blockedAttempts() {
      return blockedAttempts;
    },
    block(next = 'refuse') {
      mode = next;
      dropAll();
    },
    unblock() {
      mode = null;
      for (const client of held) if (!client.destroyed) forward(client);
      held.clear();
    },
    async close() {
      mode = 'refuse';
      dropAll();
      for (const client of held) client.destroy();
      held.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Host and port of a postgres:// URL (default port 5432). */
export function targetOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 5432 };
}
