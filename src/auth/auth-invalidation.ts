import type { RedisClient } from '../redis/client.js';
import type { Logger } from 'pino';
import type { Authenticator } from './authenticator.js';
import type { KeyMirror } from './key-mirror.js';

/**
 * Tells every gateway to forget what it cached about a subject's keys (a key revoked, a
 * plan changed, a subject deleted or renewed) over Redis pub/sub, so the change applies
 * on the next request everywhere instead of after the cache TTL. The TTL still bounds the
 * staleness of a gateway that missed a message (it was disconnected): it also drops its
 * whole cache when its subscription comes back.
 */
export class AuthInvalidation {
  constructor(
    private readonly publisher: RedisClient,
    private readonly channel: string,
    private readonly logger: Logger,
    /** Updated before the gateways are told, so one that cannot reach Postgres reads the change there. */
    private readonly mirror?: KeyMirror,
  ) {}

  static channelOf(keyPrefix: string): string {
    return `${keyPrefix}:auth-invalidate`;
  }

  /**
   * Mirrors the subject as Postgres now has it (key-mirror.ts), then resolves once Redis
   * has passed the message on to every subscribed gateway. Never throws: the change it
   * announces has committed already, and with Redis down the gateways' cache TTL still
   * bounds how long they use what they cached.
   */
  async publish(subjectId: string): Promise<boolean> {
    try {
      await this.mirror?.syncSubject(subjectId);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, subject: subjectId }, "could not mirror the change of a subject's keys in Redis");
    }
    try {
      await this.publisher.publish(this.channel, subjectId);
      return true;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, subject: subjectId }, 'could not tell the gateways to drop cached keys; their cache TTL applies');
      return false;
    }
  }

  /** Subscribes `authenticator` on its own connection (a subscribed connection runs nothing else). */
  static subscribe(subscriber: RedisClient, channel: string, authenticator: Pick<Authenticator, 'invalidate'>, logger: Logger): () => void {
    let connectedBefore = false;
    subscriber.on('message', (_channel: string, subjectId: string) => authenticator.invalidate(subjectId));
    subscriber.on('ready', () => {
      // Messages sent while disconnected are lost: forget everything once, then listen again.
      if (connectedBefore) authenticator.invalidate();
      connectedBefore = true;
    });
    subscriber.on('error', (err: Error) => logger.debug({ err: err.message }, 'auth invalidation subscriber error'));
    // Not awaited: with Redis down at start this waits for it; ioredis re-subscribes after reconnects.
    subscriber.subscribe(channel).catch((err: Error) => logger.warn({ err: err.message }, 'could not subscribe to key revocations yet; retrying on reconnect'));
    return () => subscriber.disconnect();
  }
}
