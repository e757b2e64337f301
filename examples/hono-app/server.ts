import { serve } from '@hono/node-server';
import { createExampleApp } from './app.js';

const apiKey = process.env.QUOTAGATE_API_KEY;
if (!apiKey) {
  console.error('QUOTAGATE_API_KEY is required: the demo API key `npm start` printed (qg_…)');
  process.exit(1);
}
const gatewayUrl = process.env.QUOTAGATE_URL ?? 'http://127.0.0.1:8080';
const port = Number(process.env.PORT ?? 3000);
// The port it got, not the one asked for: PORT=0 takes any free one.
serve({ fetch: createExampleApp({ gatewayUrl, apiKey }).fetch, hostname: '127.0.0.1', port }, (info) => {
  console.log(`example app on http://127.0.0.1:${info.port} (gateway ${gatewayUrl})`);
});
