export { channels } from './diagnostics.js';
export { AcquireTimeoutError, type HolderInfo, LeaseExpiredError, LockError } from './errors.js';
export { type AcquireOptions, Held, LeaseLock, type LeaseLockOptions } from './lock.js';
export { type StallReport, type WatchOptions, watchLocks } from './watch.js';
