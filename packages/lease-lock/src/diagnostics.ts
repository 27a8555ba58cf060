import diagnostics from 'node:diagnostics_channel';

/**
 * `halfopen:lease-lock:stall`: a holder passed `warnAfterMs` (`{ lock, holder, waiters }`), once per holding.
 * `halfopen:lease-lock:expire`: a lease expired and the lock moved on (`{ lock, holder, next }`).
 * `halfopen:lease-lock:timeout`: an acquire timed out (`{ lock, error }`).
 */
export const channels = {
  stall: diagnostics.channel('halfopen:lease-lock:stall'),
  expire: diagnostics.channel('halfopen:lease-lock:expire'),
  timeout: diagnostics.channel('halfopen:lease-lock:timeout'),
};
