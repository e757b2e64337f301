import { z } from '@hono/zod-openapi';

/** An instant (ms since epoch, or a Date) as ISO 8601 UTC; null stays null. */
export const isoOrNull = (at: number | Date | null): string | null => (at === null ? null : new Date(at).toISOString());

/** An ISO 8601 date-time with a time zone, as request bodies and queries take them. */
export const isoDateTimeSchema = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a time zone (e.g. 2026-12-01T00:00:00Z)' });
