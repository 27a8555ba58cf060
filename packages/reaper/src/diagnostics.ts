import diagnostics from 'node:diagnostics_channel';

/** `halfopen:reaper:reap`: every entry removed from a map, with `{ map, key, conn, reason, ageMs, idleMs }`. */
export const channels = {
  reap: diagnostics.channel('halfopen:reaper:reap'),
};
