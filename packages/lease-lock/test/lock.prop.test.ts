import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type Held, LeaseLock } from '../src/index.js';

// Random interleavings (fc.scheduler) of acquirers that wait with or without a timeout, get
// aborted, hold for a while, forget to release (some releasing from their signal's abort
// listener instead), and of time passing (fake timers).

interface Actor {
  timeoutMs: number | undefined;
  abortAfter: boolean;
  holdSteps: number;
  forget: boolean;
  /** Releases from its own signal's abort listener (synchronously, while the lease expires). */
  releaseOnAbort: boolean;
}
const actor = fc.record({
  timeoutMs: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
  abortAfter: fc.boolean(),
  holdSteps: fc.integer({ min: 0, max: 3 }),
  forget: fc.boolean(),
  releaseOnAbort: fc.boolean(),
});

interface Observed {
  lock: LeaseLock;
  leaseMs: number | undefined;
  /** Mutual exclusion among valid holders. */
  overlaps: string[];
  /** Request numbers in grant order, and their tokens. */
  granted: number[];
  tokens: number[];
  /** The fenced resource's verdicts. */
  fencing: string[];
}

/**
 * Runs the actors against one lock. Each holder writes to a resource protected by fencing, as
 * the README prescribes: it remembers the highest token it accepted and refuses lower ones.
 * Each holder writes when granted and again after holding (by then its lease may be gone).
 * The resource's verdicts are judged against the grant order this test observes, not against
 * the tokens (which are what is under test): once a holder granted later has written, a write
 * of an earlier holder must be refused; and a holder whose holding is still valid must never be
 * refused. A lock that hands out tokens but does not fence with them (a successor that gets a
 * token no higher than the holding it replaced) lets a stale write through after its successor
 * wrote: the fenced-lease property below fails on it.
 */
async function scenario(
  s: fc.Scheduler,
  actors: Actor[],
  advances: number[],
  leaseMs: number | undefined,
): Promise<Observed> {
  const lock = new LeaseLock({ name: 'p', leaseMs, now: () => Date.now() });
  const o: Observed = { lock, leaseMs, overlaps: [], granted: [], tokens: [], fencing: [] };
  let highest = 0; // the resource's own state: the highest token it accepted
  let latestWriter = -1; // grant number of the latest holder whose write was accepted
  let grants = 0;
  const write = (h: Held, grant: number, when: string) => {
    if (h.token >= highest) {
      if (grant < latestWriter) {
        o.fencing.push(
          `holder #${grant} (token ${h.token}) wrote ${when} after holder #${latestWriter} had written`,
        );
      }
      highest = h.token;
      latestWriter = Math.max(latestWriter, grant);
    } else if (h.valid) {
      o.fencing.push(`valid holder #${grant} (token ${h.token}) was refused ${when}`);
    }
  };
  let inside: Held | undefined;
  let requests = 0;
  const run = async (a: Actor, forgetful: boolean) => {
    const ac = new AbortController();
    const request = requests++;
    const p = lock.acquire({
      timeoutMs: a.timeoutMs,
      signal: ac.signal,
      label: String(request),
    });
    if (a.abortAfter) void s.schedule(Promise.resolve()).then(() => ac.abort(new Error('aborted')));
    let h: Held;
    try {
      h = await p;
    } catch {
      return;
    }
    // Grants resolve in grant order and each continuation is queued when its grant resolves.
    const grant = grants++;
    o.granted.push(request);
    o.tokens.push(h.token);
    if (inside?.valid)
      o.overlaps.push(`${request} entered while ${inside.label} held a valid lease`);
    inside = h;
    if (a.releaseOnAbort) h.signal.addEventListener('abort', () => h.release());
    write(h, grant, 'when granted');
    for (let i = 0; i < a.holdSteps; i++) await s.schedule(Promise.resolve());
    write(h, grant, 'after holding');
    if (!forgetful) h.release();
    if (inside === h) inside = undefined;
  };
  const tasks: Promise<unknown>[] = actors.map((a) =>
    s.schedule(Promise.resolve()).then(() => run(a, a.forget && leaseMs !== undefined)),
  );
  for (const ms of advances)
    tasks.push(s.schedule(Promise.resolve()).then(() => vi.advanceTimersByTime(ms)));
  await s.waitFor(Promise.all(tasks.slice(actors.length)));
  // Quiescence: let leases expire and every waiter settle.
  for (let i = 0; ; i++) {
    await vi.advanceTimersByTimeAsync(1000);
    if (s.count() === 0 && lock.query().waiters.length === 0) break;
    if (i === 100) throw new Error('never settled');
    await s.waitAll();
  }
  await s.waitAll();
  await Promise.all(tasks);
  return o;
}

const inputs = [
  fc.scheduler(),
  fc.array(actor, { minLength: 1, maxLength: 6 }),
  fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 6 }),
] as const;

async function withFakeTimers<T>(f: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ now: 0 });
  try {
    return await f();
  } finally {
    vi.useRealTimers();
  }
}

describe('LeaseLock under random interleavings (property)', () => {
  it('mutual exclusion among valid holders, FIFO, increasing tokens, clean queue', async () => {
    await fc.assert(
      fc.asyncProperty(
        ...inputs,
        fc.option(fc.integer({ min: 50, max: 400 }), { nil: undefined }),
        (s, actors, advances, leaseMs) =>
          withFakeTimers(async () => {
            const o = await scenario(s, actors, advances, leaseMs);
            expect(o.overlaps).toEqual([]);
            for (let i = 1; i < o.granted.length; i++) {
              if (o.granted[i]! < o.granted[i - 1]!)
                throw new Error(`not FIFO: grant order ${o.granted.join(',')}`);
              if (o.tokens[i]! <= o.tokens[i - 1]!)
                throw new Error(`tokens not increasing: ${o.tokens.join(',')}`);
            }
            expect(o.lock.query().waiters).toEqual([]);
            if (leaseMs !== undefined) expect(o.lock.free).toBe(true);
            o.lock.close();
            expect(vi.getTimerCount()).toBe(0);
          }),
      ),
    );
  });

  it('fenced leases: a stale holder never writes after its successor wrote; a valid holder is never refused', async () => {
    await fc.assert(
      fc.asyncProperty(
        ...inputs,
        fc.integer({ min: 50, max: 400 }),
        (s, actors, advances, leaseMs) =>
          withFakeTimers(async () => {
            const o = await scenario(s, actors, advances, leaseMs);
            expect(o.fencing).toEqual([]);
            o.lock.close();
          }),
      ),
    );
  });
});
