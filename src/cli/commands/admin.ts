import { Option, type Command, type OptionValues } from '@commander-js/extra-typings';
import { AdminClient } from '../admin-client.js';
import { wholeNumber } from '../arguments.js';

/**
 * Admin shortcuts: each one call of the gateway's admin API, its JSON answer printed to
 * stdout. An error answer (problem+json) goes to stderr with exit code 1 (see main.ts).
 */

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Adds the connection options every admin command takes (so they show in its --help). */
function admin<Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(command: Command<Args, Opts, Globals>) {
  return command
    .addOption(new Option('--url <url>', 'gateway base URL').env('QUOTAGATE_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'admin token').env('ADMIN_TOKEN').makeOptionMandatory());
}

const client = (options: { url: string; token: string }) => new AdminClient(options.url, options.token);

/** Pretty JSON on stdout; nothing for an empty (204) answer. */
function print(answer: unknown): void {
  if (answer !== undefined) console.log(JSON.stringify(answer, null, 2));
}

export function addAdminCommands(program: Command): void {
  const subjects = program.command('subjects').description('create, read, change the plan of, or delete a subject');
  admin(subjects.command('create').description('create a subject').argument('<id>', 'subject id'))
    .requiredOption('--plan <plan>', 'plan name from the policy')
    .option('--anchor <iso>', 'billing anchor (ISO 8601 timestamp); default: calendar months in UTC')
    .action(async (id, o) => print(await client(o).createSubject({ id, plan: o.plan, anchor: o.anchor })));
  admin(subjects.command('get').description("a subject's plan, period and usage").argument('<id>', 'subject id')).action(async (id, o) => print(await client(o).getSubject(id)));
  admin(subjects.command('set-plan').description("change a subject's plan (a downgrade below a gauge's level is refused unless --force)"))
    .argument('<id>', 'subject id')
    .argument('<plan>', 'new plan name')
    .option('--force', 'apply a downgrade even where a gauge is above the new limit')
    .option('--reason <text>', 'why (recorded in the audit log)')
    .action(async (id, plan, o) => print(await client(o).updateSubject(id, { plan, force: o.force, reason: o.reason })));
  admin(subjects.command('delete').description('delete a subject').argument('<id>', 'subject id')).action(async (id, o) => print(await client(o).deleteSubject(id)));

  const keys = program.command('keys').description("create, list or revoke a subject's API keys");
  admin(keys.command('create').description('create an API key (the secret is shown once)').argument('<subject>', 'subject id'))
    .option('--name <name>', 'a label for the key')
    .action(async (subject, o) => print(await client(o).createKey(subject, { name: o.name })));
  admin(keys.command('list').description("a subject's keys (prefixes and metadata, no secrets)").argument('<subject>', 'subject id')).action(async (subject, o) =>
    print(await client(o).listKeys(subject)),
  );
  admin(keys.command('revoke').description('revoke an API key').argument('<subject>', 'subject id').argument('<key-id>', 'key id')).action(async (subject, keyId, o) =>
    print(await client(o).revokeKey(subject, keyId)),
  );

  admin(program.command('usage').description("a subject's plan, period, usage per metric and grants").argument('<subject>', 'subject id')).action(async (subject, o) => {
    // The usage part of `subjects get` (same call), without the subject's record fields.
    const { plan, period, metrics, grants } = (await client(o).getSubject(subject)) as Record<string, unknown>;
    print({ subject, plan, period, metrics, grants });
  });

  admin(program.command('history').description("a subject's usage per day and hour, levels and forecasts").argument('<subject>', 'subject id'))
    .option('--days <n>', 'days back, today the last (default 30)', wholeNumber)
    .option('--metric <metric>', 'only this metric')
    .action(async (subject, o) => print(await client(o).history(subject, { days: o.days, metric: o.metric })));

  admin(program.command('reset').description("set a subject's current-period counters to 0 (audited)").argument('<subject>', 'subject id'))
    .requiredOption('--reason <text>', 'why (recorded in the audit log)')
    .option('--metric <metric...>', 'only these metrics (default: every counter)')
    .action(async (subject, o) => print(await client(o).reset(subject, { metrics: o.metric, reason: o.reason })));

  admin(program.command('grant').description('give a subject bonus credit of one metric').argument('<subject>', 'subject id'))
    .requiredOption('--metric <metric>', 'the metric')
    .requiredOption('--amount <n>', 'units granted', wholeNumber)
    .requiredOption('--reason <text>', 'why (recorded in the audit log)')
    .option('--expires-at <iso>', 'expiry (ISO 8601 timestamp); default: never')
    .action(async (subject, o) => print(await client(o).createGrant(subject, { metric: o.metric, amount: o.amount, expires_at: o.expiresAt, reason: o.reason })));

  admin(program.command('adjust').description("correct a subject's usage by hand (audited; never below 0)").argument('<subject>', 'subject id'))
    .requiredOption('--metric <metric>', 'the metric')
    .requiredOption('--delta <n>', 'units to add (negative to remove; write --delta=-5)', wholeNumber)
    .requiredOption('--reason <text>', 'why (recorded in the audit log)')
    .action(async (subject, o) => print(await client(o).adjust(subject, { metric: o.metric, delta: o.delta, reason: o.reason })));

  const deadLetters = program.command('dead-letters').description('ledger events Postgres refused: list them, replay parked ones once mended');
  admin(deadLetters.command('list').description('dead letters, newest first'))
    .addOption(new Option('--state <state>', 'only this state').choices(['sanitised', 'parked', 'replayed']))
    .option('--subject <id>', "only this subject's")
    .action(async (o) => print(await client(o).listDeadLetters({ state: o.state, subject: o.subject })));
  admin(deadLetters.command('replay').description('write a parked event (or, with --all, every parked one) to the ledger; audited').argument('[event-id]', 'the event id'))
    .option('--all', 'replay every parked dead letter (up to 500 per call)')
    .action(async (eventId, o, command) => {
      if (eventId === undefined && !o.all) command.error('error: give an event id, or --all', { exitCode: 2 });
      print(eventId === undefined ? await client(o).replayDeadLetters() : await client(o).replayDeadLetter(eventId));
    });

  admin(program.command('reconcile').description('queue a reconciliation run (Redis against the ledger); prints its job id')).action(async (o) =>
    print(await client(o).triggerReconciliation()),
  );
}
