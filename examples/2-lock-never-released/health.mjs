// @halfopen/health for incident 2's push service: readiness fails while the consumer lock is
// held past its warnAfterMs (naming the holder; a LeaseLock only, the naive mutex cannot say)
// and while subscribers wait and no quote is pushed for `stallMs` (the frozen consumer, or a
// node on an obsolete topic).
import { Health, lockCheck, progressCheck } from '@halfopen/health';

export function pushHealth(svc, { intervalMs = 1000, stallMs = 3000 } = {}) {
  const health = new Health({ intervalMs });
  if (typeof svc.lock.query === 'function') {
    // Liveness too: a restart is what frees a lock nobody will release.
    health.add('consumer-lock', lockCheck({ locks: [svc.lock] }), { liveness: true });
  }
  return health.add(
    'consumer',
    progressCheck({
      what: 'quotes pushed',
      stallMs,
      counter: () => svc.stats.pushed,
      pending: () => svc.subscribers.size,
    }),
  );
}
