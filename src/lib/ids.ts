import { randomFillSync } from 'node:crypto';
import { V7Generator } from 'uuidv7';

/**
 * Random words for the id generator, drawn from the OS a kilobyte at a time. The library's
 * default asks for 32 bytes at a time: one call into the OS per two ids, and a request makes
 * several ids (request, decision, hold, settlement).
 */
class PooledRandom {
  private readonly words = new Uint32Array(256);
  private next = this.words.length;

  nextUint32(): number {
    if (this.next === this.words.length) {
      randomFillSync(this.words);
      this.next = 0;
    }
    return this.words[this.next++]!;
  }
}

const generator = new V7Generator(new PooledRandom());

/**
 * Time-ordered unique ids (UUIDv7) for requests, decisions, holds and grants. Ledger event
 * ids are derived from them (`<id>:<n>`), so ids sort by creation time in the ledger too.
 */
export const newId = (): string => generator.generate().toString();
