// @halfopen/health for incident 3's worker pool: readiness fails while connections queue and no
// worker finishes one for `stallMs` (every worker stuck on a connection that never sends).
import { Health, progressCheck } from '@halfopen/health';

export function workerHealth(stats, { workers = 4, intervalMs = 1000, stallMs = 2000 } = {}) {
  return new Health({ intervalMs }).add(
    'workers',
    progressCheck({
      what: `requests answered (${workers} workers)`,
      stallMs,
      counter: () => stats.served + stats.freed,
      pending: () => stats.queued(),
    }),
  );
}
