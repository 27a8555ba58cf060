export { channels } from './diagnostics.js';
export {
  AcquireTimeoutError,
  type HolderInfo,
  LeaseExpiredError,
  LockError,
  type LockErrorCode,
} from './errors.js';
export {
  type AcquireOptions,
  type Held,
  LeaseLock,
  type LeaseLockOptions,
  type StallReport,
} from './lock.js';
