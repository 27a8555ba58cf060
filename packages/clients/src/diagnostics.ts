import { channels as makeChannels } from '@halfopen/internal';

/**
 * `halfopen:clients:<event>` channels, published only when subscribed:
 * - `cut`: a socket destroyed by a deadline (`reason`: free-timeout, max-age, read-idle, write-stall, half-closed).
 * - `discard`: a pooled socket not handed to a request (`reason`: peer-closed, max-age).
 * - `retry`: a request cut on a reused socket, sent again on a fresh one (or `retried: false` with why not).
 * - `connect-error`: a connect that failed (timeout, refused, ...).
 */
export const channels = makeChannels('clients', ['cut', 'discard', 'retry', 'connect-error']);
