import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/** The command line itself: help, usage errors (exit 2), config check, bad environment. */

const COMMANDS = [
  'start',
  'gateway',
  'worker',
  'migrate',
  'demo-upstream',
  'config check',
  'subjects create',
  'subjects get',
  'subjects set-plan',
  'subjects delete',
  'keys create',
  'keys list',
  'keys revoke',
  'usage',
  'reset',
  'grant',
  'adjust',
  'reconcile',
];
const ADMIN = { ADMIN_TOKEN: 'a-token-of-sixteen-chars' };

describe('help', () => {
  it('lists every command, and prints the version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of new Set(COMMANDS.map((c) => c.split(' ')[0]))) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect((await runCli(['--version'])).stdout.trim()).toBe(version);
  });

  it('--help works on every command and shows its usage', async () => {
    const results = await Promise.all(COMMANDS.map((c) => runCli([...c.split(' '), '--help'])));
    results.forEach((r, i) => {
      expect(r.code, COMMANDS[i]).toBe(0);
      expect(r.stdout, COMMANDS[i]).toContain(`Usage: quotagate ${COMMANDS[i]}`);
    });
    // Admin commands document where the gateway and the token come from.
    expect(results[COMMANDS.indexOf('grant')]!.stdout).toMatch(/--url <url>[^]*QUOTAGATE_URL[^]*--token <token>[^]*ADMIN_TOKEN/);
  });
});

describe("usage errors exit 2 with commander's message", () => {
  it.each([
    [['bogus'], "unknown command 'bogus'"],
    [[], 'Usage: quotagate'],
    [['subjects'], 'Usage: quotagate subjects'],
    [['usage', 'demo', '--bogus'], "unknown option '--bogus'"],
    [['usage'], "missing required argument 'subject'"],
    [['reset', 'demo'], "required option '--reason <text>' not specified"],
    [['grant', 'demo', '--metric', 'gens', '--amount', '1.5', '--reason', 'r'], "option '--amount <n>' argument '1.5' is invalid. must be a whole number"],
    [['config', 'check'], "missing required argument 'file'"],
    [['demo-upstream', '--port', '70000'], "option '--port <port>' argument '70000' is invalid"],
  ])('quotagate %j', async (args, message) => {
    const r = await runCli(args, ADMIN);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('an admin command without a token names --token and ADMIN_TOKEN', async () => {
    const r = await runCli(['usage', 'demo'], { ADMIN_TOKEN: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--token <token>' not specified");
  });
});

describe('config check', () => {
  it('exits 0 with a summary for a valid file', async () => {
    const r = await runCli(['config', 'check', 'test/fixtures/policy/valid.json']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toBe('test/fixtures/policy/valid.json: valid — 2 metrics, 2 plans (default: free), 1 route');
    expect((await runCli(['config', 'check', 'config/policy.yaml'])).code).toBe(0);
  });

  it('accepts the AI gateway example, and warns (exit 0) about unpriced conditioned models and unused price tables', async () => {
    const example = await runCli(['config', 'check', 'examples/ai-gateway/policy.yaml']);
    expect(example).toMatchObject({ code: 0, stderr: '' });
    expect(example.stdout).toContain('valid — 3 metrics, 2 plans (default: free), 4 routes');
    const warned = await runCli(['config', 'check', 'test/fixtures/policy/ai-warnings.yaml']);
    expect(warned.code).toBe(0);
    expect(warned.stderr.trim().split('\n')).toEqual([
      'warning: routes.chat: model "claude-opus-4" has no price in prices.credits (unknown_model: charge_reservation applies)',
      'warning: prices.spare: no route settles a price in it',
    ]);
  });

  it('exits 1 naming the path of every problem', async () => {
    const r = await runCli(['config', 'check', 'test/fixtures/policy/three-problems.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('invalid configuration in test/fixtures/policy/three-problems.yaml');
    for (const path of ['metrics.gens.kind:', 'plans.free.limits.gens:', 'routes.0.upstream:']) expect(r.stderr).toContain(`  - ${path}`);
  });

  it('exits 1 on a file that does not parse or does not exist', async () => {
    const yaml = await runCli(['config', 'check', 'test/fixtures/policy/invalid-yaml.yaml']);
    expect(yaml.code).toBe(1);
    expect(yaml.stderr).toContain('not valid YAML at line 7');
    const json = await runCli(['config', 'check', 'test/fixtures/policy/invalid.json']);
    expect(json.code).toBe(1);
    expect(json.stderr).toContain('not valid JSON');
    const missing = await runCli(['config', 'check', 'test/fixtures/policy/nope.yaml']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read test/fixtures/policy/nope.yaml: ENOENT');
  });
});

describe('bad environment', () => {
  it('exits 1 naming every bad variable before starting anything', async () => {
    const r = await runCli(['gateway'], { PORT: 'eighty', QG_PARTITIONS: '0' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid configuration in environment');
    expect(r.stderr).toMatch(/^ {2}- PORT: /m);
    expect(r.stderr).toMatch(/^ {2}- QG_PARTITIONS: /m);
  });

  it('a bad option value from the environment names the variable', async () => {
    const r = await runCli(['demo-upstream'], { DEMO_UPSTREAM_PORT: 'http' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("from env 'DEMO_UPSTREAM_PORT' is invalid");
  });
});
