import { startDemoUpstream } from './upstream.js';

// Runs the demo upstream on its own (the README quickstart's upstream). Empty variables
// mean "unset", as for the gateway's own environment.
const rawPort = process.env.DEMO_UPSTREAM_PORT || '9100';
const port = /^\d{1,5}$/.test(rawPort) ? Number(rawPort) : NaN;
if (!(port <= 65_535)) {
  console.error(`DEMO_UPSTREAM_PORT must be a whole number from 0 to 65535, got "${rawPort}"`);
  process.exit(1);
}

const upstream = await startDemoUpstream({ host: process.env.DEMO_UPSTREAM_HOST || '127.0.0.1', port });
console.log(`demo upstream listening on ${upstream.url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void upstream.close());
}
