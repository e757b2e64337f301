import type { Command } from '@commander-js/extra-typings';
import { defaultPlanName } from '../../config/policy.js';
import { loadPolicyFile } from '../../config/load-policy.js';
import { meteringWarnings } from '../../config/metering-policy.js';

/** `config check FILE`: validates a policy file offline (no Redis, no Postgres). */
export function addConfigCommands(program: Command): void {
  const config = program.command('config').description('work with policy files');
  config
    .command('check')
    .description('validate a policy file (YAML, or JSON by extension); exit 0 with a summary, or 1 naming the path of every problem')
    .argument('<file>', 'the policy file')
    .action((file) => {
      // A bad file throws a ConfigError listing every problem with its path; main reports it.
      const policy = loadPolicyFile(file);
      const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
      console.log(
        `${file}: valid — ${count(Object.keys(policy.metrics).length, 'metric')}, ` +
          `${count(Object.keys(policy.plans).length, 'plan')} (default: ${defaultPlanName(policy)}), ${count(policy.routes.length, 'route')}`,
      );
      // Valid but probably not meant (README "Metering AI providers"): reported, exit 0.
      for (const warning of meteringWarnings(policy)) console.warn(`warning: ${warning}`);
    });
}
