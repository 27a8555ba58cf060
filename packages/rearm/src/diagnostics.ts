import { channels as make } from '@halfopen/internal';

/**
 * `halfopen:rearm:stale` `{ view, reason }`: the view went stale (the one way to observe it,
 * besides reading `state`); `halfopen:rearm:error` `{ view, error }`: a failed read, a
 * `RearmError` with a `code` (the one way to observe read failures, besides `stats().errors`).
 */
export const channels = make('rearm', ['stale', 'error']);
