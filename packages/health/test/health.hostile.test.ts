import diagnostics from 'node:diagnostics_channel';
import {
  hostileOptions,
  hostileValue,
  isOptionError,
  misbehave,
  misbehaviour,
} from '@halfopen/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type Check,
  eventLoopCheck,
  Health,
  healthHandler,
  lockCheck,
  progress,
  progressCheck,
  serverGuardCheck,
  topicCheck,
  viewCheck,
} from '../src/index.js';

const HEALTH_KEYS = ['name', 'intervalMs', 'budgetMs', 'failAfter', 'recoverAfter', 'now'];
const ADD_KEYS = ['intervalMs', 'budgetMs', 'readiness', 'liveness', 'failAfter', 'recoverAfter'];
const STATES = ['healthy', 'degraded', 'failing'];
const validMs = fc.integer({ min: 1, max: 10_000 });
const validCount = fc.integer({ min: 1, max: 10 });

/** The report is what the docs say whatever happened: valid JSON, 200 or 503, each reason one line. */
function expectSaneReport(h: Health): void {
  for (const probe of ['readiness', 'liveness'] as const) {
    const r = h.report(probe);
    expect([200, 503]).toContain(r.status);
    const body = JSON.parse(r.body);
    expect(body.ok).toBe(r.status === 200);
    for (const c of body.checks) {
      expect([...STATES, 'unknown']).toContain(c.state);
      expect(typeof c.reason).toBe('string');
      expect(c.reason.length).toBeLessThanOrEqual(200);
      expect(c.reason).not.toMatch(/\n/);
      expect(c.failures).toBeGreaterThanOrEqual(0);
    }
  }
}

describe('Health under hostile input', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('new Health(options): an error naming the option, or a Health that answers and closes clean', () => {
    fc.assert(
      fc.property(
        hostileOptions(HEALTH_KEYS, {
          name: fc.string({ maxLength: 20 }),
          intervalMs: validMs,
          budgetMs: validMs,
          failAfter: validCount,
          recoverAfter: validCount,
          now: fc.constant(() => 1_700_000_000_000),
        }),
        (options) => {
          let h: Health;
          try {
            h = new Health(options);
          } catch (error) {
            expect(isOptionError(error)).toBe(true);
            return;
          }
          expect(h.budgetMs).toBeLessThanOrEqual(h.intervalMs);
          expectSaneReport(h);
          h.close();
          expect(h.report().status).toBe(503);
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
    );
  });

  it('add(name, check, options): an error naming what was wrong, or a registered check; close clears every timer', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant('c'), hostileValue()),
        fc.oneof(
          fc.constant(() => ({ state: 'healthy' })),
          hostileValue(),
        ),
        hostileOptions(ADD_KEYS, {
          intervalMs: validMs,
          budgetMs: validMs,
          readiness: fc.boolean(),
          liveness: fc.boolean(),
          failAfter: validCount,
          recoverAfter: validCount,
        }),
        (name, check, options) => {
          const h = new Health({ intervalMs: 1000 });
          try {
            h.add(name as string, check as Check, options);
            expect(h.names).toEqual([name]);
          } catch (error) {
            expect(
              isOptionError(error, 'options') ||
                isOptionError(error, 'name') ||
                isOptionError(error, 'check'),
            ).toBe(true);
            expect(h.names).toEqual([]);
          }
          expectSaneReport(h);
          h.close();
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
    );
  });

  it('checks that throw, reject, never settle or return garbage are reported as failing, and close leaves nothing pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(misbehaviour(), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 3 }),
        async (hows, ticks) => {
          const h = new Health({ intervalMs: 100, budgetMs: 50, failAfter: 2 });
          hows.forEach((how, i) => {
            h.add(`c${i}`, misbehave(how, { state: 'healthy', reason: 'ok' }) as Check, {
              liveness: true,
            });
          });
          await vi.advanceTimersByTimeAsync(50 + ticks * 100);
          const checks = h.checks();
          hows.forEach((how, i) => {
            expect(checks[i]!.state).toBe(how === 'returns' ? 'healthy' : 'failing');
          });
          expectSaneReport(h);
          expect(h.report().status).toBe(hows.every((x) => x === 'returns') ? 200 : 503);
          const pending = h.runNow();
          h.close();
          await expect(pending).rejects.toMatchObject({ code: 'HALFOPEN_ERR_HEALTH_CLOSED' });
          expect(vi.getTimerCount()).toBe(0);
          expectSaneReport(h);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('any value a check returns becomes a result with a known state and a one-line reason', async () => {
    const throwingGetter = fc.constant(
      Object.defineProperty({}, 'state', {
        get() {
          throw new Error('getter');
        },
      }),
    );
    const almost = fc.record({
      state: fc.oneof(fc.constantFrom(...STATES), hostileValue()),
      reason: fc.oneof(fc.string({ maxLength: 400 }), hostileValue(), fc.constant('a\nb\r\n c')),
      evidence: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(hostileValue(), fc.anything())),
        hostileValue(),
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(almost, fc.anything(), throwingGetter), async (value) => {
        const h = new Health({ intervalMs: 1000 });
        h.add('c', () => value as never);
        await h.runNow();
        const [c] = h.checks();
        expect(STATES).toContain(c!.state);
        expectSaneReport(h);
        h.close();
      }),
      { numRuns: 500 },
    );
  });

  it('built-in checks refuse bad options naming them, and otherwise dispose clean', () => {
    const factories: Array<[string, (o: unknown) => Check, Record<string, fc.Arbitrary<unknown>>]> =
      [
        ['eventLoopCheck', eventLoopCheck as never, { failingMs: validMs, degradedMs: validMs }],
        [
          'progressCheck',
          progressCheck as never,
          { stallMs: validMs, counter: fc.constant(() => 1), pending: fc.constant(() => 0) },
        ],
        ['progress', ((o: never) => progress(o).check) as never, { stallMs: validMs }],
        [
          'lockCheck',
          lockCheck as never,
          {
            locks: fc.constant([{ name: 'l', query: () => ({ waiters: [] }) }]),
            heldMs: validMs,
          },
        ],
        [
          'viewCheck',
          viewCheck as never,
          { view: fc.constant({ state: 'synced', stats: () => ({ staleForMs: 0 }) }) },
        ],
        [
          'topicCheck',
          topicCheck as never,
          { topic: fc.constant({ lagging: () => [] }), lagMs: validMs },
        ],
        [
          'serverGuardCheck',
          serverGuardCheck as never,
          {
            guard: fc.constant({ stats: () => ({ guarded: 0, destroyed: {} }) }),
            maxCutFraction: fc.double({ min: 0, max: 1, noNaN: true }),
          },
        ],
      ];
    for (const [, make, valid] of factories) {
      fc.assert(
        fc.property(hostileOptions(Object.keys(valid), valid), (options) => {
          let check: Check;
          try {
            check = make(options);
          } catch (error) {
            expect(isOptionError(error)).toBe(true);
            return;
          }
          expect(typeof check).toBe('function');
          check[Symbol.dispose]?.();
        }),
        { numRuns: 200 },
      );
    }
    for (const name of ['halfopen:lease-lock:stall', 'halfopen:rearm:stale']) {
      expect(diagnostics.channel(name).hasSubscribers).toBe(false);
    }
  });

  it('report(probe): a report for readiness or liveness, else an error naming the probe', () => {
    const h = new Health();
    fc.assert(
      fc.property(
        fc.oneof(
          hostileValue(),
          fc.constantFrom('__proto__', 'constructor', 'toString', 'liveness'),
        ),
        (probe) => {
          try {
            const r = h.report(probe as never);
            expect(['readiness', 'liveness']).toContain(probe);
            expect([200, 503]).toContain(r.status);
          } catch (error) {
            expect(isOptionError(error, 'probe')).toBe(true);
          }
        },
      ),
    );
    h.close();
  });

  it('healthHandler refuses what is not a Health or a probe, naming it', () => {
    fc.assert(
      fc.property(hostileValue(), hostileOptions(['probe']), (health, options) => {
        try {
          healthHandler(health as never, options as never);
          expect.unreachable('a hostile value is not a Health');
        } catch (error) {
          expect(isOptionError(error, 'health')).toBe(true);
        }
        const h = new Health();
        try {
          expect(typeof healthHandler(h, options as never)).toBe('function');
        } catch (error) {
          expect(isOptionError(error)).toBe(true);
        }
        h.close();
      }),
    );
  });
});
