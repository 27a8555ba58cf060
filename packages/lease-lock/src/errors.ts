import { HalfopenError } from '@halfopen/internal';

/** The codes this package's errors carry; match on these. */
export type LockErrorCode =
  | 'HALFOPEN_ERR_LOCK_TIMEOUT'
  | 'HALFOPEN_ERR_LEASE_EXPIRED'
  | 'HALFOPEN_ERR_LOCK_CLOSED';

/** Base class of this package's errors; match on `code`. */
export class LockError extends HalfopenError {
  override name = 'LockError';
  declare readonly code: LockErrorCode;
  constructor(
    code: LockErrorCode,
    /** The lock's `name`. */
    readonly lock: string,
    message: string,
  ) {
    super(code, message);
  }
}

/** What a holder looks like from outside. */
export interface HolderInfo {
  label: string | undefined;
  token: number;
  /** When it acquired, on the lock's clock. */
  since: number;
  heldMs: number;
  /** The stack at acquire, when the lock captures stacks. */
  stack?: string | undefined;
}

const who = (h: HolderInfo | undefined) =>
  h
    ? `held by ${h.label ?? 'an unlabelled holder'} (token ${h.token}) for ${Math.round(h.heldMs)} ms`
    : 'free';

/** acquire() waited `timeoutMs` without getting the lock. */
export class AcquireTimeoutError extends LockError {
  override name = 'AcquireTimeoutError';
  constructor(
    lock: string,
    readonly timeoutMs: number,
    readonly holder: HolderInfo | undefined,
    readonly waiters: number,
  ) {
    super(
      'HALFOPEN_ERR_LOCK_TIMEOUT',
      lock,
      `lock ${lock} not acquired within ${timeoutMs} ms: ${who(holder)}, ${waiters} waiting`,
    );
  }
}

/** A holder kept the lock past its lease; the lock went to the next waiter. */
export class LeaseExpiredError extends LockError {
  override name = 'LeaseExpiredError';
  constructor(
    lock: string,
    readonly leaseMs: number,
    readonly holder: HolderInfo,
  ) {
    super(
      'HALFOPEN_ERR_LEASE_EXPIRED',
      lock,
      `lease of ${holder.label ?? 'an unlabelled holder'} on lock ${lock} expired after ${leaseMs} ms (token ${holder.token}); its release is now a no-op`,
    );
  }
}
