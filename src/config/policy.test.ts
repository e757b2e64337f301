import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { loadPolicyFile, parsePolicy } from './load-policy.js';
import { meteringWarnings } from './metering-policy.js';
import { defaultPlanName } from './policy.js';

/**
 * Every kind of invalid policy is refused with a line that starts with the path of the
 * offending key, so an operator can find it without reading the schema.
 */

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const fixture = (name: string) => repoFile(`test/fixtures/policy/${name}`);

type Doc = { [key: string]: unknown };

const route = (overrides: Doc = {}): Doc => ({
  name: 'chat',
  match: { method: 'POST', path: '/v1/chat' },
  upstream: 'http://127.0.0.1:9100',
  charge: [{ metric: 'gens', amount: 1 }],
  ...overrides,
});

/** A small valid policy; each test breaks one thing in it. */
const base = (): Doc => ({
  metrics: { gens: { kind: 'counter' }, tokens: { kind: 'counter' }, projects: { kind: 'gauge' } },
  default_plan: 'free',
  plans: {
    free: { limits: { gens: 10, tokens: 1000, projects: 3 }, rate: { rps: 5, burst: 10 } },
    pro: { limits: { gens: null, tokens: null, projects: 50 } },
  },
  routes: [route()],
});

const isPlainObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `base()` with `patch` merged in; objects merge, anything else (arrays too) replaces. */
function policyWith(patch: Doc): Doc {
  const merge = (target: Doc, source: Doc): Doc => {
    const out: Doc = { ...target };
    for (const [key, value] of Object.entries(source)) {
      const current = out[key];
      out[key] = isPlainObject(current) && isPlainObject(value) ? merge(current, value) : value;
    }
    return out;
  };
  return merge(base(), patch);
}

function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

const problems = (doc: unknown) => problemsOf(() => parsePolicy(doc, 'test'));

/** Exactly one problem, at `path`, whose message matches `message`. */
function expectOneProblem(doc: unknown, path: string, message: RegExp) {
  const found = problems(doc);
  expect(found).toHaveLength(1);
  expect(found[0]!.startsWith(`${path}: `), `"${found[0]}" should start with "${path}: "`).toBe(true);
  expect(found[0]).toMatch(message);
}

describe('a valid policy', () => {
  it('is accepted, with defaults filled in', () => {
    const policy = parsePolicy(base());
    expect(defaultPlanName(policy)).toBe('free');
    expect(policy.routes[0]).toMatchObject({ on_upstream_error: 'refund', when_redis_down: 'closed', release: [] });
  });

  it('ships as config/policy.yaml', () => {
    const policy = loadPolicyFile(repoFile('config/policy.yaml'));
    expect(Object.keys(policy.metrics)).toEqual(['ai_generations', 'ai_tokens', 'exports', 'projects']);
    expect(defaultPlanName(policy)).toBe('free');
    expect(policy.routes.map((r) => r.name)).toContain('chat');
  });

  it('may be JSON', () => {
    const policy = loadPolicyFile(fixture('valid.json'));
    expect(policy.plans.pro?.limits).toEqual({ gens: null, projects: 50 });
    expect(policy.routes[0]?.charge).toEqual([{ metric: 'projects', amount: 1 }]);
  });
});

describe('unknown keys are errors, not silently ignored', () => {
  it('at the top level', () => {
    expectOneProblem(policyWith({ metrix: {} }), '(root)', /Unrecognized key: "metrix"/);
  });

  it('in a metric', () => {
    expectOneProblem(policyWith({ metrics: { gens: { kind: 'counter', unit: 'calls' } } }), 'metrics.gens', /Unrecognized key: "unit"/);
  });

  it('in a plan', () => {
    expectOneProblem(policyWith({ plans: { free: { limit: {} } } }), 'plans.free', /Unrecognized key: "limit"/);
  });

  it('in a route', () => {
    expectOneProblem(policyWith({ routes: [route({ upstream_url: 'http://x' })] }), 'routes.0', /Unrecognized key: "upstream_url"/);
  });

  it('in a charge', () => {
    expectOneProblem(policyWith({ routes: [route({ charge: [{ metric: 'gens', amount: 1, cost: 2 }] })] }), 'routes.0.charge.0', /Unrecognized key: "cost"/);
  });
});

describe('metrics and plans', () => {
  it('a metric kind other than counter or gauge', () => {
    expectOneProblem(policyWith({ metrics: { gens: { kind: 'meter' } } }), 'metrics.gens.kind', /"counter"\|"gauge"/);
  });

  it('a negative limit', () => {
    expectOneProblem(policyWith({ plans: { free: { limits: { gens: -1 } } } }), 'plans.free.limits.gens', /must be ≥ 0/);
  });

  it('a fractional limit', () => {
    expectOneProblem(policyWith({ plans: { free: { limits: { gens: 2.5 } } } }), 'plans.free.limits.gens', /whole number/);
  });

  it('a plan without a limit for some metric', () => {
    const doc = base();
    doc.plans = { ...(doc.plans as Doc), pro: { limits: { gens: null, projects: 50 } } }; // no tokens
    expectOneProblem(doc, 'plans.pro.limits.tokens', /missing: every metric needs a limit/);
  });

  it('a plan limit for a metric that does not exist', () => {
    expectOneProblem(policyWith({ plans: { free: { limits: { exports: 1 } } } }), 'plans.free.limits.exports', /unknown metric "exports"/);
  });

  it('a default_plan that is not a plan', () => {
    expectOneProblem(policyWith({ default_plan: 'enterprise' }), 'default_plan', /unknown plan "enterprise"/);
  });
});

describe('routes', () => {
  it('charging an unknown metric', () => {
    expectOneProblem(policyWith({ routes: [route({ charge: [{ metric: 'images', amount: 1 }] })] }), 'routes.0.charge.0.metric', /unknown metric "images"/);
  });

  it('releasing a counter metric (only gauges go down)', () => {
    expectOneProblem(policyWith({ routes: [route({ charge: [], release: [{ metric: 'gens', amount: 1 }] })] }), 'routes.0.release.0.metric', /only gauge metrics can be released/);
  });

  it('two routes with one name', () => {
    const second = route({ match: { method: 'POST', path: '/v1/other' } });
    expectOneProblem(policyWith({ routes: [route(), second] }), 'routes.1.name', /duplicate route name "chat"/);
  });

  it('two routes with one method and path', () => {
    expectOneProblem(policyWith({ routes: [route(), route({ name: 'chat-again' })] }), 'routes.1.match', /duplicate match "POST \/v1\/chat"/);
  });

  it('an upstream that is not http(s)', () => {
    expectOneProblem(policyWith({ routes: [route({ upstream: 'ftp://127.0.0.1:9100' })] }), 'routes.0.upstream', /http\(s\) URL/);
  });

  it('a reservation read from nowhere the request has', () => {
    const charge = { metric: 'tokens', reserve: { from: 'payload.max_tokens', default: 1024 }, settle: { from: 'response.usage.total_tokens' } };
    expectOneProblem(policyWith({ routes: [route({ charge: [charge] })] }), 'routes.0.charge.0.reserve.from', /body\.<path>, query\.<name> or header\.<name>/);
  });
});

describe('files', () => {
  it('invalid YAML is reported with its line', () => {
    const found = problemsOf(() => loadPolicyFile(fixture('invalid-yaml.yaml')));
    expect(found).toEqual([expect.stringMatching(/^not valid YAML at line 7: /)]);
  });

  it('invalid JSON is reported as JSON', () => {
    expect(problemsOf(() => loadPolicyFile(fixture('invalid.json')))).toEqual([expect.stringMatching(/^not valid JSON: /)]);
  });

  it('an unreadable file names the path and the reason', () => {
    const path = fixture('does-not-exist.yaml');
    let error: unknown;
    try {
      loadPolicyFile(path);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).source).toBe('POLICY_FILE');
    expect((error as ConfigError).problems).toEqual([`cannot read ${path}: ENOENT`]);
  });

  it('a file’s problems are attributed to the file', () => {
    const path = fixture('three-problems.yaml');
    expect(() => loadPolicyFile(path)).toThrow(`invalid configuration in ${path}:`);
  });
});

describe('every problem is reported at once', () => {
  it('three mistakes in a file give three lines', () => {
    const found = problemsOf(() => loadPolicyFile(fixture('three-problems.yaml')));
    expect(found).toEqual([
      expect.stringMatching(/^metrics\.gens\.kind: /),
      expect.stringMatching(/^plans\.free\.limits\.gens: must be ≥ 0/),
      expect.stringMatching(/^routes\.0\.upstream: must be an http\(s\) URL/),
    ]);
    // One line each in the message too, as the process prints it at start.
    const message = (() => {
      try {
        loadPolicyFile(fixture('three-problems.yaml'));
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(message.split('\n').filter((line) => line.startsWith('  - '))).toHaveLength(3);
  });

  it('three cross-reference mistakes give three lines', () => {
    const doc = policyWith({
      default_plan: 'enterprise',
      plans: { free: { limits: { exports: 1 } } },
      routes: [route(), route({ match: { method: 'GET', path: '/v1/x' } })],
    });
    expect(problems(doc)).toEqual([
      expect.stringMatching(/^plans\.free\.limits\.exports: unknown metric/),
      expect.stringMatching(/^default_plan: unknown plan/),
      expect.stringMatching(/^routes\.1\.name: duplicate route name/),
    ]);
  });

  it('reports structural and cross-reference mistakes together', () => {
    const doc = policyWith({
      metrics: { gens: { kind: 'meter' } },
      default_plan: 'enterprise',
      routes: [route({ match: { method: 'POST', path: '/v1/usage' } })],
    });
    const found = problems(doc);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^metrics\.gens\.kind: /),
        expect.stringMatching(/^default_plan: unknown plan/),
        expect.stringMatching(/^routes\.0\.match\.path: "\/v1\/usage" is served by the gateway itself/),
      ]),
    );
  });
});

describe('billing: Stripe and Paddle prices and products as plans', () => {
  it('maps price and product ids to plans, with the subject key defaulting to quotagate_subject', () => {
    const policy = parsePolicy(policyWith({ billing: { stripe: { prices: { price_1PzXyZ: 'pro' } }, paddle: { products: { pro_01h1vjes1y163xfj1rh1tkfb65: 'free' } } } }));
    expect(policy.billing).toEqual({
      subject_key: 'quotagate_subject',
      stripe: { prices: { price_1PzXyZ: 'pro' }, products: {} },
      paddle: { prices: {}, products: { pro_01h1vjes1y163xfj1rh1tkfb65: 'free' } },
    });
    expect(parsePolicy(base()).billing.stripe).toEqual({ prices: {}, products: {} });
  });

  it('an unknown plan is an error naming the price', () => {
    expectOneProblem(policyWith({ billing: { stripe: { prices: { price_1PzXyZ: 'platinum' } } } }), 'billing.stripe.prices.price_1PzXyZ', /unknown plan "platinum"/);
    expectOneProblem(policyWith({ billing: { paddle: { products: { pro_01abc: 'gold' } } } }), 'billing.paddle.products.pro_01abc', /unknown plan "gold"/);
  });

  it('an unknown provider or key, a bad id or subject key', () => {
    expectOneProblem(policyWith({ billing: { chargebee: {} } }), 'billing', /Unrecognized key: "chargebee"/);
    expectOneProblem(policyWith({ billing: { stripe: { plans: {} } } }), 'billing.stripe', /Unrecognized key: "plans"/);
    expectOneProblem(policyWith({ billing: { stripe: { prices: { 'price with space': 'pro' } } } }), 'billing.stripe.prices.price with space', /Invalid key/);
    expectOneProblem(policyWith({ billing: { subject_key: 'has space' } }), 'billing.subject_key', /must be 1–40/);
  });
});

describe('metering AI providers', () => {
  const metered = (charge: Doc[], extra: Doc = {}) =>
    policyWith({
      metrics: { credits: { kind: 'counter' } },
      plans: { free: { limits: { credits: 100 } }, pro: { limits: { credits: null } } },
      prices: { credits: { models: { 'gpt-4o*': { input: 2500, output: 10000 } } } },
      routes: [route({ provider: 'openai_chat', charge, ...extra })],
    });
  const tokens = { metric: 'tokens', reserve: { default: 256 }, settle: { usage: 'total' } };
  const credits = { metric: 'credits', reserve: { default: 256, max: 5000 }, settle: { usage: 'price' } };

  it('a route with a provider, usage-settled tokens and priced credits is valid', () => {
    const policy = parsePolicy(metered([tokens, credits, { metric: 'gens', amount: 1, when: { model: ['gpt-4o*'], 'header.x-tier': ['gold'] } }]));
    expect(policy.routes[0]).toMatchObject({ provider: 'openai_chat', unknown_model: 'charge_reservation' });
    expect(policy.prices.credits).toMatchObject({ per_tokens: 1_000_000, aliases: {} });
  });

  it('an unknown provider', () => {
    expectOneProblem(metered([tokens], { provider: 'mistral' }), 'routes.0.provider', /must be one of openai_chat, openai_responses, anthropic, gemini/);
  });

  it('an unknown token measure', () => {
    expectOneProblem(metered([{ ...tokens, settle: { usage: 'cached' } }]), 'routes.0.charge.0.settle.usage', /must be one of total, input, output, price/);
    expectOneProblem(metered([{ ...tokens, settle: { usage: 'total', from: 'response.usage.total_tokens' } }]), 'routes.0.charge.0.settle', /exactly one of/);
  });

  it('usage settlement on a route without a provider', () => {
    expectOneProblem(metered([tokens], { provider: undefined }), 'routes.0.charge.0.settle.usage', /needs the route to name its provider/);
  });

  it('a model condition on a route without a provider', () => {
    expectOneProblem(
      metered([{ metric: 'gens', amount: 1, when: { model: ['x'] } }], { provider: undefined }),
      'routes.0.charge.0.when.model',
      /needs the route to name its provider/,
    );
  });

  it('a condition on something that is not a request field', () => {
    expectOneProblem(metered([{ metric: 'gens', amount: 1, when: { 'response.model': ['x'] } }]), 'routes.0.charge.0.when.response.model', /must be model, body/);
  });

  it('a reservation without a source on a charge not settled from usage', () => {
    expectOneProblem(
      metered([{ metric: 'tokens', reserve: { default: 1 }, settle: { from: 'response.usage.total_tokens' } }]),
      'routes.0.charge.0.reserve.from',
      /required unless/,
    );
  });

  it('a price for an unknown metric', () => {
    expectOneProblem(policyWith({ prices: { credit: { models: { m: { input: 1, output: 1 } } } } }), 'prices.credit', /unknown metric "credit"/);
  });

  it('a price for a gauge', () => {
    expectOneProblem(policyWith({ prices: { projects: { models: { m: { input: 1, output: 1 } } } } }), 'prices.projects', /counter/);
  });

  it('a fractional or negative price, and an unknown token class', () => {
    expectOneProblem(policyWith({ prices: { tokens: { models: { m: { input: 0.5, output: 1 } } } } }), 'prices.tokens.models.m.input', /whole number/);
    expectOneProblem(policyWith({ prices: { tokens: { models: { m: { input: 1, output: -1 } } } } }), 'prices.tokens.models.m.output', /≥ 0/);
    expectOneProblem(policyWith({ prices: { tokens: { models: { m: { input: 1, output: 1, thinking: 2 } } } } }), 'prices.tokens.models.m', /Unrecognized key: "thinking"/);
  });

  it('a per_tokens other than 1, 1000 or 1000000', () => {
    expectOneProblem(policyWith({ prices: { tokens: { per_tokens: 100, models: {} } } }), 'prices.tokens.per_tokens', /must be 1, 1000 or 1000000/);
  });

  it('an alias to a model the table does not have', () => {
    expectOneProblem(policyWith({ prices: { tokens: { models: { a: { input: 1, output: 1 } }, aliases: { b: 'c' } } } }), 'prices.tokens.aliases.b', /unknown model "c"/);
  });

  it('a priced charge of a metric without prices', () => {
    expectOneProblem(metered([{ ...credits, metric: 'tokens' }]), 'routes.0.charge.0.settle.usage', /no prices for metric "tokens"/);
  });

  it('unknown_model: default without default prices, and charge_reservation without max', () => {
    expectOneProblem(metered([credits], { unknown_model: 'default' }), 'routes.0.unknown_model', /needs prices.credits.default/);
    expectOneProblem(metered([{ ...credits, reserve: { default: 256 } }]), 'routes.0.charge.0.reserve.max', /unknown model reserves max/);
    expectOneProblem(metered([credits], { unknown_model: 'never' }), 'routes.0.unknown_model', /deny/);
  });

  it('config check warns about conditioned models without a price and price tables no route uses', () => {
    const policy = parsePolicy(metered([credits, { metric: 'gens', amount: 1, when: { model: ['gpt-4o', 'o3', 'claude-*'] } }]));
    expect(meteringWarnings(policy)).toEqual(['routes.chat: model "o3" has no price in prices.credits (unknown_model: charge_reservation applies)']);
    expect(meteringWarnings(parsePolicy(metered([tokens])))).toEqual(['prices.credits: no route settles a price in it']);
  });
});

describe('several windows per metric', () => {
  const limited = (tokens: unknown, projects: unknown = 3) => policyWith({ plans: { free: { limits: { gens: 10, tokens, projects } } } });

  it('a counter limited per period and per minute, hour and day; the plain number form stays valid', () => {
    const policy = parsePolicy(limited({ period: 1_000_000, minute: 20_000, hour: 500_000, day: 900_000 }));
    expect(policy.plans.free!.limits.tokens).toEqual({ period: 1_000_000, minute: 20_000, hour: 500_000, day: 900_000 });
    expect(parsePolicy(limited({ period: null, minute: 5 })).plans.free!.limits.tokens).toEqual({ period: null, minute: 5 });
    expect(parsePolicy(limited(1000)).plans.free!.limits.tokens).toBe(1000);
  });

  it('a window the policy does not know (a week, a month: only minute, hour, day)', () => {
    expectOneProblem(limited({ period: 1000, week: 10 }), 'plans.free.limits.tokens', /Unrecognized key: "week"/);
  });

  it('a window whose limit is above a longer window or the period (it could never be reached)', () => {
    expectOneProblem(limited({ period: 1000, minute: 2000 }), 'plans.free.limits.tokens.minute', /above the period limit \(1000\)/);
    expectOneProblem(limited({ period: null, minute: 600, hour: 500 }), 'plans.free.limits.tokens.minute', /above the hour limit \(500\)/);
  });

  it('a window on a gauge', () => {
    expectOneProblem(limited(1000, { period: 3, minute: 1 }), 'plans.free.limits.projects.minute', /windows need a counter metric/);
  });

  it('a window that is not a whole number, and a windowed limit without its period', () => {
    expectOneProblem(limited({ period: 1000, minute: 1.5 }), 'plans.free.limits.tokens.minute', /whole number/);
    expectOneProblem(limited({ minute: 10 }), 'plans.free.limits.tokens.period', /required/);
  });
});
