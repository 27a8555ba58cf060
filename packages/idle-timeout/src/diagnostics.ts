import { channels as makeChannels } from '@halfopen/internal';

/**
 * `halfopen:idle-timeout:timeout`: every deadline that passed, with `{ info, socket, action }`.
 * `halfopen:idle-timeout:error`: user code that threw or rejected (`onTimeout`, a `'guard'`
 * listener, a clock or random source that failed), with `{ error, during, socket? }`; the guard
 * carries on (see the README).
 */
export const channels = makeChannels('idle-timeout', ['timeout', 'error']);
