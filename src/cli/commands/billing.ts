import { Argument, InvalidArgumentError, Option, type Command } from '@commander-js/extra-typings';
import { simulatedEvent, simulatedPrice, simulatedSignature, SIMULATED_TYPES, type SimulatedProvider } from '../../billing/simulated-event.js';
import { loadPolicyFile } from '../../config/load-policy.js';
import { AdminClient, requestJson } from '../admin-client.js';

const DEFAULT_URL = 'http://127.0.0.1:8080';
const PROVIDERS = ['stripe', 'paddle'] as const;
const SECRET_ENV = { stripe: 'STRIPE_WEBHOOK_SECRET', paddle: 'PADDLE_WEBHOOK_SECRET' } as const;

const print = (answer: unknown) => {
  if (answer !== undefined) console.log(JSON.stringify(answer, null, 2));
};
const url = () => new Option('--url <url>', 'gateway base URL').env('QUOTAGATE_URL').default(DEFAULT_URL);
const token = () => new Option('--token <token>', 'admin token').env('ADMIN_TOKEN').makeOptionMandatory();
const provider = () => new Option('--provider <provider>', 'stripe or paddle').choices(PROVIDERS);

function isoInstant(value: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms)) throw new InvalidArgumentError('must be an ISO 8601 timestamp');
  return ms;
}

/** Start of the current calendar month (UTC): a period no later than any the subject is in, so an update starts none. */
const monthStart = (now: number) => Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);

/**
 * `quotagate billing …`: which subject a Stripe or Paddle customer is (admin API), the events
 * no subject was found for, and a signed test event posted to a running gateway.
 */
export function addBillingCommands(program: Command): void {
  const billing = program.command('billing').description('Stripe and Paddle: customer links, unmatched events, simulated events');
  const client = (o: { url: string; token: string }) => new AdminClient(o.url, o.token);

  billing
    .command('link')
    .description('link a Stripe or Paddle customer to a subject (for events that carry no subject in metadata / custom_data)')
    .argument('<provider>', 'stripe or paddle')
    .argument('<customer>', 'customer id (cus_… / ctm_…)')
    .argument('<subject>', 'subject id')
    .addOption(url())
    .addOption(token())
    .action(async (p, customer, subject, o) => print(await client(o).linkCustomer(p, customer, subject)));
  billing
    .command('unlink')
    .description('remove a customer link')
    .argument('<provider>', 'stripe or paddle')
    .argument('<customer>', 'customer id')
    .addOption(url())
    .addOption(token())
    .action(async (p, customer, o) => print(await client(o).unlinkCustomer(p, customer)));
  billing
    .command('customers')
    .description('linked customers')
    .addOption(provider())
    .option('--subject <id>', 'only the links of this subject')
    .addOption(url())
    .addOption(token())
    .action(async (o) => print(await client(o).listCustomers({ provider: o.provider, subject: o.subject })));
  billing
    .command('events')
    .description('billing events received, newest first, with what each did (applied, unchanged, stale, blocked, ignored)')
    .addOption(new Option('--provider <provider>', 'quotagate, stripe or paddle').choices(['quotagate', ...PROVIDERS]))
    .option('--subject <id>', 'only the events of this subject')
    .addOption(new Option('--status <status>', 'only events with this result').choices(['applied', 'unchanged', 'stale', 'blocked', 'ignored']))
    .addOption(url())
    .addOption(token())
    .action(async (o) => print(await client(o).listBillingEvents({ provider: o.provider, subject: o.subject, status: o.status })));
  billing
    .command('unmatched')
    .description('events answered 404 because no subject was found (the provider keeps retrying them)')
    .addOption(provider())
    .addOption(url())
    .addOption(token())
    .action(async (o) => print(await client(o).listUnmatched({ provider: o.provider })));

  billing
    .command('simulate')
    .description(`post a realistic, signed provider event for a subject to the gateway: stripe ${SIMULATED_TYPES.stripe.join(', ')}; paddle ${SIMULATED_TYPES.paddle.join(', ')}`)
    .addArgument(new Argument('<provider>', 'stripe or paddle').choices(PROVIDERS))
    .argument('<type>', 'event type')
    .requiredOption('--subject <id>', 'the subject, written where the operator sets it at checkout (metadata / custom_data)')
    .option('--plan <plan>', 'a plan of the policy: the event carries a price (or product) billing.<provider> maps to it')
    .option('--price <id>', 'the price id the event carries (default: one that maps to no plan, so the plan stays)')
    .option(
      '--period-start <iso>',
      'start of the billing period the event reports (default: now for renewals and creations, the 1st of this month for updates and cancellations)',
      isoInstant,
    )
    .option('--subscription <id>', 'subscription id (default: one per subject, so successive simulations are one subscription)')
    .option('--customer <id>', 'customer id (default: one per subject)')
    .option('--secret <secret>', 'signing secret (default: the first of STRIPE_WEBHOOK_SECRET / PADDLE_WEBHOOK_SECRET)')
    .addOption(url())
    .action(async (which: SimulatedProvider, type, o, command) => {
      if (!(SIMULATED_TYPES[which] as readonly string[]).includes(type)) {
        return command.error(`error: argument 'type': ${which} events simulated are ${SIMULATED_TYPES[which].join(', ')}`, { exitCode: 2 });
      }
      const secret = o.secret ?? process.env[SECRET_ENV[which]]?.split(',')[0]?.trim();
      if (!secret) return command.error(`error: give --secret, or set ${SECRET_ENV[which]} as the gateway has it`, { exitCode: 2 });
      const policy = loadPolicyFile(process.env.POLICY_FILE || 'config/policy.yaml');
      const price = simulatedPrice(policy, which, { price: o.price, plan: o.plan });
      if ('error' in price) return command.error(`error: option '--plan': ${price.error}`, { exitCode: 2 });
      const now = Date.now();
      const opens = /paid|completed|created/.test(type);
      const tag = o.subject.replace(/[^A-Za-z0-9]/g, '').slice(0, 40);
      const body = simulatedEvent({
        provider: which,
        type,
        subject: o.subject,
        subjectKey: policy.billing.subject_key,
        ...price,
        subscription: o.subscription ?? `sub_qgsim_${tag}`,
        customer: o.customer ?? `${which === 'stripe' ? 'cus' : 'ctm'}_qgsim_${tag}`,
        periodStart: o.periodStart ?? (opens ? now : monthStart(now)),
        now,
      });
      const [header, signature] = simulatedSignature(which, secret, body, now);
      const target = `${o.url.replace(/\/+$/, '')}/webhooks/${which}`;
      print(await requestJson('POST', target, { [header]: signature, 'content-type': 'application/json' }, body));
    });
}
