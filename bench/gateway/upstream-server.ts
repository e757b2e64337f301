/**
 * A child process of `npm run bench:gateway`: the demo upstream on a free loopback port,
 * printing `listening on <url>`. SIGTERM closes it.
 *
 * Not `quotagate demo-upstream` (src/cli/commands/services.ts), because the demo upstream records every request it receives
 * (for tests to inspect): a few hundred thousand of them would grow its heap by hundreds
 * of megabytes and make its garbage collector, not the proxies, set the later figures.
 */
import { startDemoUpstream } from '../../src/demo/upstream.js';

const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
setInterval(() => upstream.requests.splice(0), 1_000).unref();
console.log(`listening on ${upstream.url}`);
process.once('SIGTERM', () => void upstream.close().finally(() => process.exit(0)));
