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
import { codes, FleetEpochs } from '../src/index.js';
import { FakeClient, FakeRedisServer } from './fake-redis.js';

// Arbitrary options, hostile pub/sub payloads, misbehaving onSupersede callbacks, clocks and
// Redis clients. The only acceptable outcomes: a TypeError/RangeError naming the option at
// construction, or the documented behaviour (payloads counted, never thrown; calls rejected
// with a coded error; nothing pending after shutdown; no unhandled rejection).

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const warnings: unknown[] = [];
const onWarning = (w: unknown) => warnings.push(w);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  process.on('warning', onWarning);
});
afterEach(() => {
  vi.useRealTimers();
  process.off('unhandledRejection', onUnhandled);
  process.off('warning', onWarning);
});

const settle = () => new Promise((r) => setImmediate(r));
const conn = () => ({
  destroyed: false,
  destroy() {
    this.destroyed = true;
  },
});
const KEYS = [
  'timeoutMs',
  'reconcileEveryMs',
  'reconcileBatch',
  'prefix',
  'onSupersede',
  'now',
  'instance',
  'subscriber',
];

describe('FleetEpochs under hostile input (hostile)', () => {
  it('new FleetEpochs(arbitrary options) works or throws an error naming the option', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileOptions(KEYS, {
          timeoutMs: fc.integer({ min: 1, max: 5000 }),
          reconcileEveryMs: fc.integer({ min: 1, max: 5000 }),
          reconcileBatch: fc.integer({ min: 1, max: 1000 }),
          prefix: fc.string({ maxLength: 8 }),
          instance: fc.string({ minLength: 1, maxLength: 8 }),
          now: fc.constant(() => 1_700_000_000_000),
        }),
        async (options) => {
          const server = new FakeRedisServer();
          let e: FleetEpochs<ReturnType<typeof conn>>;
          try {
            e = new FleetEpochs({
              instance: 'a',
              ...options,
              redis: new FakeClient(server),
            } as never);
          } catch (error) {
            expect(isOptionError(error, 'options')).toBe(true);
            return;
          }
          await settle();
          const c = conn();
          const r = await e.open('p', c).then(
            (epoch) => epoch,
            (error) => error,
          );
          if (typeof r === 'number') expect(e.epochOf('p')).toBe(r);
          else expect(r).toMatchObject({ code: codes.UNAVAILABLE });
          await e.shutdown();
          for (const v of Object.values(e.stats()))
            if (typeof v === 'number') expect(v).toBeGreaterThanOrEqual(0);
          expect(unhandled).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hostile payloads on the channel are counted and reported, never thrown; only a well-formed newer epoch revokes', async () => {
    const payload = fc.oneof(
      hostileValue(),
      fc.string({ maxLength: 40 }),
      fc.json(),
      fc
        .record(
          {
            v: fc.oneof(fc.constant(1), hostileValue()),
            peer: fc.oneof(fc.constant('p'), hostileValue()),
            instance: fc.oneof(fc.constant('b'), hostileValue()),
            epoch: fc.oneof(fc.integer({ min: -5, max: 2 ** 53 }), hostileValue()),
          },
          { requiredKeys: [] },
        )
        .map((r) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? String(v) : v))),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(payload, { maxLength: 12 }), async (payloads) => {
        const server = new FakeRedisServer();
        const redis = new FakeClient(server);
        const e = new FleetEpochs<ReturnType<typeof conn>>({ redis, instance: 'a' });
        const malformed: unknown[] = [];
        const count = (m: unknown) => malformed.push(m);
        diagnostics.subscribe('halfopen:epochs-redis:malformed', count);
        try {
          const c = conn();
          const epoch = await e.open('p', c);
          await settle();
          const before = e.stats();
          let newer = false;
          for (const p of payloads) {
            server.publish(e.channel, p);
            try {
              const m = JSON.parse(p as string);
              if (
                m.v === 1 &&
                m.peer === 'p' &&
                Number.isSafeInteger(m.epoch) &&
                m.epoch > epoch &&
                typeof m.instance === 'string' &&
                m.instance !== ''
              )
                newer = true;
            } catch {
              // not JSON: malformed
            }
          }
          await settle();
          const after = e.stats();
          expect(after.malformed - before.malformed + after.received - before.received).toBe(
            payloads.length,
          );
          expect(malformed).toHaveLength(after.malformed - before.malformed);
          expect(c.destroyed).toBe(newer);
          expect(e.epochOf('p') === undefined).toBe(newer);
        } finally {
          diagnostics.unsubscribe('halfopen:epochs-redis:malformed', count);
          await e.shutdown();
        }
        expect(unhandled).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('a misbehaving onSupersede or clock never reaches the caller; the revocation still happens', async () => {
    await fc.assert(
      fc.asyncProperty(misbehaviour(), misbehaviour(), async (how, clock) => {
        const server = new FakeRedisServer();
        const errors: unknown[] = [];
        const onError = (m: unknown) => errors.push(m);
        diagnostics.subscribe('halfopen:epochs-redis:error', onError);
        const a = new FleetEpochs({
          redis: new FakeClient(server),
          instance: 'a',
          onSupersede: misbehave(how, undefined) as never,
          now: misbehave(clock, 1_700_000_000_000) as never,
        });
        const b = new FleetEpochs({ redis: new FakeClient(server), instance: 'b' });
        try {
          await a.open('p', conn());
          await b.open('p', conn());
          await settle();
          expect(a.epochOf('p')).toBeUndefined();
          expect(a.stats().revoked).toBe(1);
          if (how === 'throws' || how === 'rejects' || how === 'then-throws')
            expect(errors).toHaveLength(1);
        } finally {
          diagnostics.unsubscribe('halfopen:epochs-redis:error', onError);
          await a.shutdown();
          await b.shutdown();
        }
        expect(unhandled).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('a misbehaving Redis client (throws, rejects, never answers, garbage) rejects calls with a coded error', async () => {
    await fc.assert(
      fc.asyncProperty(misbehaviour(), async (how) => {
        vi.useFakeTimers();
        const server = new FakeRedisServer();
        const redis = new FakeClient(server);
        const e = new FleetEpochs({ redis, instance: 'a', timeoutMs: 100 });
        await vi.advanceTimersByTimeAsync(0);
        redis.eval = misbehave(how, ['garbage']) as never;
        const c = conn();
        const opening = e.open('p', c).then(
          (v) => v,
          (error) => error,
        );
        const owning = e.owner('p').then(
          (v) => v,
          (error) => error,
        );
        await vi.advanceTimersByTimeAsync(150);
        const [o, w] = await Promise.all([opening, owning]);
        expect(o).toMatchObject({ code: codes.UNAVAILABLE });
        expect(e.epochOf('p')).toBeUndefined();
        if (w !== undefined) expect(w).toMatchObject({ code: codes.UNAVAILABLE });
        await e.shutdown();
        vi.useRealTimers();
        expect(unhandled).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
