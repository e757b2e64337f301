import { createHash } from 'node:crypto';
import { masterNodes, type RedisClient } from '../client.js';
import { loadLua } from '../lua.js';
import type { RideAlong } from '../ride-along.js';

/** Every script in `lua/`; each has one module beside this file that builds its calls. */
const SCRIPT_NAMES = [
  'consume',
  'settle',
  'return-hold',
  'refund',
  'void',
  'release',
  'reset',
  'grant',
  'revoke-grant',
  'adjust',
  'hydrate',
  'snapshot',
  'repair',
  'ack-outbox',
  'drop-consumer',
] as const;
type ScriptName = (typeof SCRIPT_NAMES)[number];

/**
 * One call of a script, as its module builds it: the KEYS and ARGV in the layout its Lua
 * header documents, and the decoder of its reply. Nothing else builds KEYS or ARGV.
 */
export interface ScriptCall<R> {
  readonly script: ScriptName;
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
  decode(raw: unknown): R;
}

type ScriptCommand = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

const commandName = (name: ScriptName) => `qg_${name.replace(/-/g, '_')}`;

/**
 * Registers quotagate's scripts on a client. ioredis sends EVALSHA, and on NOSCRIPT (a
 * restarted or failed-over Redis lost its script cache) loads the script and retries, per
 * connection, so Cluster nodes are covered too.
 */
export class Scripts {
  private readonly shas = new Map<ScriptName, string>();

  /** `rideAlong`: commands held back to go with the next call; each call takes them along first. */
  constructor(
    readonly redis: RedisClient,
    private readonly rideAlong?: RideAlong,
  ) {
    for (const name of SCRIPT_NAMES) {
      const lua = loadLua(name);
      this.shas.set(name, createHash('sha1').update(lua).digest('hex'));
      redis.defineCommand(commandName(name), { lua });
    }
  }

  /** Sends the call and decodes its reply. */
  async run<R>(call: ScriptCall<R>): Promise<R> {
    this.rideAlong?.release();
    const command = (this.redis as unknown as Record<string, ScriptCommand>)[commandName(call.script)]!;
    return call.decode(await command.call(this.redis, call.keys.length, ...call.keys, ...call.args));
  }

  /** Loads every script into each node's cache ahead of the first request (readiness). */
  async preload(): Promise<void> {
    await Promise.all(masterNodes(this.redis).flatMap((node) => SCRIPT_NAMES.map((name) => node.script('LOAD', loadLua(name)))));
  }

  /** True when every script is in the cache of every node. */
  async loaded(): Promise<boolean> {
    const shas = [...this.shas.values()];
    const answers = await Promise.all(masterNodes(this.redis).map((node) => node.script('EXISTS', ...shas) as Promise<number[]>));
    return answers.every((flags) => flags.every((f) => f === 1));
  }
}
