/** Counts of live libuv resources by type. Unref'd timers are not listed (Node omits them): count those with fake timers. */
export type LeakSnapshot = Record<string, number>;

export function leakSnapshot(): LeakSnapshot {
  const counts: LeakSnapshot = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/**
 * Throws when there are more live timers, TCP handles or other resources now than in
 * `before` (taken with `leakSnapshot()` before the code under test ran).
 */
export async function assertNoLeaks(before: LeakSnapshot, settleMs = 0): Promise<void> {
  // Let pending close callbacks run so handles being closed are gone.
  await new Promise((r) => setImmediate(r));
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  await new Promise((r) => setImmediate(r));
  const after = leakSnapshot();
  const grown = Object.entries(after)
    .filter(([k, n]) => n > (before[k] ?? 0))
    .map(([k, n]) => `${k}: ${before[k] ?? 0} -> ${n}`);
  if (grown.length > 0) throw new Error(`resources left behind: ${grown.join(', ')}`);
}
