import diagnostics from 'node:diagnostics_channel';

/**
 * `halfopen:registry:error`: a listener threw or rejected, or a queue overflowed:
 * `{ topic, error, subscription }`.
 * `halfopen:registry:drop`: a `drop-oldest` queue dropped a version: `{ topic, version, subscription }`.
 */
export const channels = {
  error: diagnostics.channel('halfopen:registry:error'),
  drop: diagnostics.channel('halfopen:registry:drop'),
};
