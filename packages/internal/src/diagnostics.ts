import diagnostics, { type Channel } from 'node:diagnostics_channel';

/**
 * One `node:diagnostics_channel` channel per event, named `halfopen:<pkg>:<event>`.
 * `channels('reaper', ['reap', 'error'])` gives `{ reap, error }`.
 */
export function channels<const E extends string>(
  pkg: string,
  events: readonly E[],
): Record<E, Channel> {
  const out = {} as Record<E, Channel>;
  for (const e of events) out[e] = diagnostics.channel(`halfopen:${pkg}:${e}`);
  return out;
}

/** Publishes only when someone listens, so an unobserved event costs one property read. */
export function publish(channel: Channel, message: unknown): void {
  if (channel.hasSubscribers) channel.publish(message);
}
