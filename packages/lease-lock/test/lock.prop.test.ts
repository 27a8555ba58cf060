import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type Held, LeaseLock } from '../src/index.js';

// Random interleavings (fc.scheduler) of acquirers that wait with or without a timeout, get
// aborted, hold for a while, forget to release, and of time passing (fake timers).

interface Actor {
  timeoutMs: number | undefined;
  abortAfter: boolean;
  holdSteps: number;
  forget: boolean;
}
const actor = fc.record({
  timeoutMs: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
  abortAfter: fc.boolean(),
  holdSteps: fc.integer({ min: 0, max: 3 }),
  forget: fc.boolean(),
});

describe('LeaseLock under random interleavings (property)', () => {
  it('mutual exclusion among valid holders, FIFO, increasing tokens, clean queue, fenced leases', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(actor, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 6 }),
        fc.option(fc.integer({ min: 50, max: 400 }), { nil: undefined }),
        async (s, actors, advances, leaseMs) => {
          vi.useFakeTimers({ now: 0 });
          try {
            const lock = new LeaseLock({ name: 'p', leaseMs, now: () => Date.now() });
            // A resource protected by fencing: it refuses tokens lower than the highest it saw.
            let highest = 0;
            const write = (h: Held) => {
              if (h.token < highest) return false;
              highest = h.token;
              return true;
            };
            let inside: Held | undefined;
            const violations: string[] = [];
            const granted: number[] = []; // request numbers in grant order
            const tokens: number[] = [];
            let requests = 0;
            const run = async (a: Actor, forgetful: boolean) => {
              const ac = new AbortController();
              const request = requests++;
              const p = lock.acquire({
                timeoutMs: a.timeoutMs,
                signal: ac.signal,
                label: String(request),
              });
              if (a.abortAfter)
                void s.schedule(Promise.resolve()).then(() => ac.abort(new Error('aborted')));
              let h: Held;
              try {
                h = await p;
              } catch {
                return;
              }
              granted.push(request);
              tokens.push(h.token);
              if (inside?.valid)
                violations.push(`${request} entered while ${inside.label} held a valid lease`);
              inside = h;
              for (let i = 0; i < a.holdSteps; i++) await s.schedule(Promise.resolve());
              const wrote = write(h);
              if (h.valid !== wrote && h.valid)
                violations.push(`valid holder ${request} was fenced off`);
              if (!h.valid && wrote && highest > h.token)
                violations.push(`expired holder ${request} got through`);
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

            expect(violations).toEqual([]);
            for (let i = 1; i < granted.length; i++) {
              if (granted[i]! < granted[i - 1]!)
                throw new Error(`not FIFO: grant order ${granted.join(',')}`);
              if (tokens[i]! <= tokens[i - 1]!)
                throw new Error(`tokens not increasing: ${tokens.join(',')}`);
            }
            expect(lock.query().waiters).toEqual([]);
            if (leaseMs !== undefined) expect(lock.free).toBe(true);
            expect(vi.getTimerCount()).toBe(0);
          } finally {
            vi.useRealTimers();
          }
        },
      ),
    );
  });
});
