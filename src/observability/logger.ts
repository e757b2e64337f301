import { format } from 'node:util';
import { pino, type Logger } from 'pino';

/** JSON logs on stdout; every line of a request carries its request id (a child logger). */
export function createLogger(level: string, name = 'quotagate'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

const CONSOLE_LEVELS = [
  ['debug', 'debug'],
  ['log', 'info'],
  ['info', 'info'],
  ['warn', 'warn'],
  ['error', 'error'],
] as const;

/**
 * For the gateway and worker processes: what libraries print themselves becomes log lines,
 * so stdout and stderr hold nothing but one JSON object per line. @hono/node-server prints
 * a response body that failed mid-stream (an upstream's BodyTimeoutError) with
 * console.error and offers no hook; BullMQ and ioredis print errors nobody listened to. An
 * uncaught exception or unhandled rejection is logged as one `fatal` line, and the process
 * exits 1 as Node would have.
 */
export function routeProcessOutput(logger: Logger): void {
  const log = logger.child({ source: 'console' });
  for (const [method, level] of CONSOLE_LEVELS) {
    console[method] = (...args: unknown[]) => {
      const err = args.find((a): a is Error => a instanceof Error);
      const message = format(...args.map((a) => (a instanceof Error ? a.message : a)));
      if (err) log[level]({ err }, message);
      else log[level](message);
    };
  }
  const die = (what: string) => (err: unknown) => {
    logger.fatal({ err }, what);
    process.exit(1);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
}
