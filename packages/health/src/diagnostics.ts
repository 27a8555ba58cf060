import { channels as make } from '@halfopen/internal';

/**
 * `halfopen:health:change`: a check's state changed:
 * `{ health, check, from, to, reason, evidence, since }` (`from` is 'unknown' before its first result).
 * `halfopen:health:status`: readiness or liveness as a whole flipped: `{ health, probe, ok, reason }`.
 */
export const channels = make('health', ['change', 'status']);
