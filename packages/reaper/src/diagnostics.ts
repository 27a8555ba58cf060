import { channels as named } from '@halfopen/internal';

/**
 * `halfopen:reaper:reap`: every entry removed from a map, with `{ map, key, conn, reason, ageMs, idleMs }`.
 * `halfopen:reaper:error`: a user callback (a `reap` listener, `close`, a factory's value's
 * `end()`) threw, with `{ map, error }` (a ReaperError coded HALFOPEN_ERR_REAPER_CALLBACK).
 */
export const channels = named('reaper', ['reap', 'error']);
