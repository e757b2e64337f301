import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/config/load-policy.js';
import { clientTypesSource, GENERATED_FILE, type OpenApiDocument } from '../../packages/client/scripts/generate-types.js';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

/**
 * The client package's types are generated from the OpenAPI document the gateway serves
 * (itself generated from the zod schemas that validate requests), for the shipped policy.
 * This fails when a schema changed and packages/client/src/generated/openapi.ts was not
 * regenerated. QG_UPDATE_CLIENT_TYPES=1 rewrites the file instead.
 */

let gw: GatewayFixture;
beforeAll(async () => {
  const shipped = loadPolicyFile('config/policy.yaml');
  gw = await startGatewayFixture({ policy: () => shipped });
});
afterAll(() => gw?.close());

describe('the client package’s generated types', () => {
  it('match the document the gateway serves', async () => {
    const doc = (await (await gw.request('/openapi.json')).json()) as OpenApiDocument;
    const expected = await clientTypesSource(doc);
    if (process.env.QG_UPDATE_CLIENT_TYPES === '1') await writeFile(GENERATED_FILE, expected);
    const committed = await readFile(GENERATED_FILE, 'utf8').catch(() => '');
    expect(committed, 'packages/client/src/generated/openapi.ts is stale: run QG_UPDATE_CLIENT_TYPES=1 npx vitest run test/client/types.test.ts').toBe(expected);
  });
});
