import { channels as make } from '@halfopen/internal';

/**
 * `halfopen:skew-guard:reject`: every rejection, `{ peer, reason, detail }`.
 * `halfopen:skew-guard:error`: an `onSupersede` (or the default `destroy()`) threw: `{ peer, error }`.
 */
export const channels = make('skew-guard', ['reject', 'error']);
