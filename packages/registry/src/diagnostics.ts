import { channels as named } from '@halfopen/internal';

/**
 * `halfopen:registry:error`: a listener threw or rejected, or a queue overflowed:
 * `{ topic, error, subscription }`.
 * `halfopen:registry:drop`: a `drop-oldest` queue dropped a version: `{ topic, version, subscription }`.
 */
export const channels = named('registry', ['error', 'drop']);
