import { loadEnv, type Env } from '../config/env.js';
import { loadPolicyFile } from '../config/load-policy.js';
import type { Policy } from '../config/policy.js';
import { createLogger } from '../observability/logger.js';
import type { Logger } from 'pino';

export interface Config {
  env: Env;
  policy: Policy;
  logger: Logger;
}

/** The environment and the policy file it names, validated (a ConfigError names every bad key), and a logger. */
export function loadConfig(loggerName?: string): Config {
  const env = loadEnv();
  const policy = loadPolicyFile(env.POLICY_FILE);
  return { env, policy, logger: createLogger(env.LOG_LEVEL, loggerName) };
}
