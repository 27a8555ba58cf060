import type { HolderInfo } from './errors.js';
import { activeLocks, type LeaseLock } from './lock.js';

export interface StallReport {
  lock: string;
  holder: HolderInfo;
  waiters: Array<{ label: string | undefined; waitingMs: number }>;
}

export interface WatchOptions {
  /** Report a holder that has held any lock longer than this. Required. */
  warnAfterMs: number;
  /** Called once per stalled holding. Default: a process warning naming the lock, holder and waiters. */
  onStall?: (report: StallReport) => void;
  /** How often to look. Default: warnAfterMs / 4, within 50..10000 ms. */
  intervalMs?: number;
}

/**
 * One watchdog for every LeaseLock in the process (those held or waited on): reports each
 * holding that passes `warnAfterMs`, once. Returns a handle; `stop()` clears its timer.
 */
export function watchLocks(options: WatchOptions): { stop(): void; [Symbol.dispose](): void } {
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  const { warnAfterMs, onStall } = options;
  if (typeof warnAfterMs !== 'number' || !(warnAfterMs > 0) || !Number.isFinite(warnAfterMs)) {
    throw new RangeError(
      `options.warnAfterMs must be a finite number > 0, got ${String(warnAfterMs)}`,
    );
  }
  if (onStall !== undefined && typeof onStall !== 'function')
    throw new TypeError('options.onStall must be a function');
  const intervalMs = options.intervalMs ?? Math.min(10_000, Math.max(50, warnAfterMs / 4));
  if (typeof intervalMs !== 'number' || !(intervalMs > 0)) {
    throw new RangeError(`options.intervalMs must be a number > 0, got ${String(intervalMs)}`);
  }
  const reported = new WeakMap<LeaseLock, number>(); // lock -> token already reported
  const timer = setInterval(() => {
    for (const lock of activeLocks) {
      const q = lock.query();
      const h = q.holder;
      if (!h || h.heldMs < warnAfterMs || reported.get(lock) === h.token) continue;
      reported.set(lock, h.token);
      const report: StallReport = { lock: lock.name, holder: h, waiters: q.waiters };
      if (onStall) onStall(report);
      else {
        process.emitWarning(
          `lock ${lock.name} held by ${h.label ?? 'an unlabelled holder'} for ${Math.round(h.heldMs)} ms; ${q.waiters.length} waiting: ${q.waiters.map((w) => w.label ?? '?').join(', ')}`,
          { type: 'HalfopenLockStall', code: 'HALFOPEN_LOCK_STALL' },
        );
      }
    }
  }, intervalMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  return { stop, [Symbol.dispose]: stop };
}
