/** UTC days and hours, the buckets of the usage history (UTC has neither DST nor leap seconds in JS time). */
export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** 00:00 UTC of the day holding `at` (ms). */
export const utcDayStart = (at: number): number => at - (((at % DAY_MS) + DAY_MS) % DAY_MS);

/** `YYYY-MM-DD` of the UTC day holding `at`. */
export const utcDate = (at: number): string => new Date(at).toISOString().slice(0, 10);
