import { channels as named } from '@halfopen/internal';

/**
 * `halfopen:lease-lock:stall`: a holder passed `warnAfterMs`, once per holding (a StallReport:
 * `{ lock, holder, waiters }`).
 * `halfopen:lease-lock:expire`: a lease expired and the lock moved on (`{ lock, holder, next }`).
 * `halfopen:lease-lock:timeout`: an acquire timed out (`{ lock, error }`).
 */
export const channels = named('lease-lock', ['stall', 'expire', 'timeout']);
