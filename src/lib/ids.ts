import { uuidv7 } from 'uuidv7';

/**
 * Time-ordered unique ids (UUIDv7) for requests, decisions, holds and grants. Ledger event
 * ids are derived from them (`<id>:<n>`), so ids sort by creation time in the ledger too.
 */
export const newId = (): string => uuidv7();
