import { pino, type Logger } from 'pino';

/** JSON logs on stdout; every line of a request carries its request id (a child logger). */
export function createLogger(level: string, name = 'quotagate'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
