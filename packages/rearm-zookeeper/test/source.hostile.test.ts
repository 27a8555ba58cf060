import { getEventListeners } from 'node:events';
import { hostileOptions, isOptionError, misbehave, misbehaviour } from '@halfopen/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { zookeeperChildren } from '../src/index.js';
import { FakeClient } from './fixtures/fake-client.js';

// Hostile tier: arbitrary options, and factories that throw, reject, never settle, return
// then-throwing thenables or garbage, with reads aborted or the source closed while they wait.
// Only a named option error, or reads that settle with a coded error or the abort reason; never
// an unhandled rejection, a read pending after close, a timer or a listener left behind.

const KEYS = ['path', 'connectionString', 'createClient', 'sessionTimeoutMs', 'handshakeTimeoutMs'];

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  vi.useRealTimers();
});

describe('zookeeperChildren under hostile input', () => {
  it('arbitrary options: a named option error, or a source that closes clean without connecting', () => {
    fc.assert(
      fc.property(
        hostileOptions(KEYS, {
          path: fc.constantFrom('/s', '/services/payments'),
          connectionString: fc.constant('127.0.0.1:1'),
          createClient: fc.constant(() => new FakeClient('never')),
          sessionTimeoutMs: fc.integer({ min: 1, max: 60_000 }),
          handshakeTimeoutMs: fc.integer({ min: 1, max: 60_000 }),
        }),
        (options) => {
          try {
            zookeeperChildren(options as never).close();
          } catch (error) {
            expect(isOptionError(error, 'options'), String(error)).toBe(true);
          }
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
    );
  });

  it('a misbehaving factory, aborts and closes with reads pending: every read settles, nothing left behind', async () => {
    await fc.assert(
      fc.asyncProperty(
        misbehaviour(),
        fc.boolean(),
        fc.constantFrom('abort', 'close', 'handshake-timeout'),
        fc.integer({ min: 0, max: 5 }),
        async (how, connects, end, waitMs) => {
          const made: FakeClient[] = [];
          const source = zookeeperChildren({
            path: '/s',
            handshakeTimeoutMs: 20,
            createClient: () => {
              made.push(new FakeClient(connects ? 'timer' : 'never'));
              return misbehave(how, made.at(-1))() as never;
            },
          });
          const ac = new AbortController();
          let outcome: unknown = 'pending';
          source.read(ac.signal).then(
            () => {
              outcome = 'resolved';
            },
            (e: unknown) => {
              outcome = e;
            },
          );
          await vi.advanceTimersByTimeAsync(waitMs);
          if (end === 'abort') ac.abort(new Error('hostile abort'));
          else if (end === 'close') source.close();
          else {
            // The handshake deadline fails a read still waiting for a session; a read sent on a
            // session is answered or not by the server: close() settles it.
            await vi.advanceTimersByTimeAsync(25);
            source.close();
          }
          await vi.advanceTimersByTimeAsync(2); // and lets the fake client's own timer pass
          expect(outcome).not.toBe('pending');
          expect(outcome).not.toBe('resolved'); // the fake client never answers a read
          const e = outcome as { code?: string; message?: string };
          if (end === 'abort' && e.message === 'hostile abort') {
            // the abort reason, as documented
          } else expect(e.code, String(e.message)).toMatch(/^HALFOPEN_ERR_REARM_ZOOKEEPER_/);
          expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
          source.close();
          expect(vi.getTimerCount()).toBe(0);
          for (const c of made) expect(c.closed || how !== 'returns').toBe(true);
          await new Promise((r) => setImmediate(r));
          expect(unhandled).toEqual([]);
        },
      ),
    );
  });
});
