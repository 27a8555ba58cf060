import net from 'node:net';
import {
  assertNoLeaks,
  freePort,
  hostileOptions,
  isOptionError,
  leakSnapshot,
  misbehave,
  misbehaviour,
} from '@halfopen/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, setKeepAlive } from '../src/index.js';

let srv: net.Server;
let live: number;
let refused: number;
const accepted = new Set<net.Socket>();
beforeAll(async () => {
  srv = net.createServer((s) => {
    accepted.add(s);
    s.on('error', () => {});
    s.on('close', () => accepted.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', 1024, r));
  live = (srv.address() as net.AddressInfo).port;
  refused = await freePort();
});
afterAll(async () => {
  for (const s of accepted) s.destroy();
  await new Promise((r) => srv.close(r));
});

const kernelMs = fc.integer({ min: 1, max: 32_767 }).map((s) => s * 1000);
const settings = fc.record(
  {
    idleMs: kernelMs,
    intervalMs: kernelMs,
    count: fc.integer({ min: 1, max: 127 }),
    userTimeoutMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  },
  { requiredKeys: ['idleMs', 'intervalMs', 'count'] },
);

describe('setKeepAlive under arbitrary settings', () => {
  it('applies settings within the kernel ranges (read back) or throws an error naming the option', async () => {
    const socket = net.connect(live, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    fc.assert(
      fc.property(
        fc.oneof(
          hostileOptions(['idleMs', 'intervalMs', 'count', 'userTimeoutMs'], {
            idleMs: kernelMs,
            intervalMs: kernelMs,
            count: fc.integer({ min: 1, max: 127 }),
            userTimeoutMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          }),
          settings,
        ),
        (options) => {
          let report: ReturnType<typeof setKeepAlive>;
          try {
            report = setKeepAlive(socket, options as never);
          } catch (error) {
            expect(isOptionError(error, 'options')).toBe(true);
            return;
          }
          const a = report.applied!;
          expect(a.keepAlive).toBe(true);
          expect(a.idleMs).toBe(options.idleMs);
          expect(a.intervalMs).toBe(options.intervalMs);
          expect(a.count).toBe(options.count);
          expect(a.userTimeoutMs).toBeGreaterThanOrEqual(0);
          expect(a.userTimeoutMs).toBeLessThanOrEqual(2 ** 31 - 1);
        },
      ),
    );
    socket.destroy();
  });
});

describe('connect under arbitrary options and misbehaving callbacks', () => {
  it('settles with a socket, a named option error or a documented failure, and leaves nothing behind', async () => {
    const before = leakSnapshot();
    const callback = (value: boolean) =>
      misbehaviour().map((how) => misbehave(how, value) as () => boolean);
    await fc.assert(
      fc.asyncProperty(
        hostileOptions(
          [
            'timeoutMs',
            'attemptTimeoutMs',
            'retries',
            'retryOn',
            'keepAlive',
            'userTimeoutMs',
            'noDelay',
            'strict',
            'onReport',
          ],
          {
            timeoutMs: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
            attemptTimeoutMs: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
            retries: fc.oneof(
              fc.integer({ min: 0, max: 3 }),
              fc.record({
                retries: fc.integer({ min: 0, max: 3 }),
                minDelayMs: fc.integer({ min: 0, max: 20 }),
              }),
            ),
            retryOn: callback(true),
            keepAlive: fc.oneof(fc.constant(false), settings),
            userTimeoutMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
            noDelay: fc.boolean(),
            strict: fc.boolean(),
            onReport: callback(true),
          },
        ),
        fc.boolean(),
        async (options, toLive) => {
          const signal = AbortSignal.timeout(500); // bounds a retry loop a hostile `retries` allows
          let socket: net.Socket;
          try {
            socket = await connect({
              ...options,
              port: toLive ? live : refused,
              host: '127.0.0.1',
              signal,
            } as never);
          } catch (error) {
            const e = error as { code?: unknown; name?: unknown; message?: unknown };
            const documented =
              isOptionError(error, 'options') ||
              e.code === 'ECONNREFUSED' ||
              (typeof e.code === 'string' && e.code.startsWith('HALFOPEN_ERR_')) ||
              e.name === 'TimeoutError' || // the signal's reason
              /^hostile (callback throws|thenable then\(\) throws)$/.test(String(e.message));
            if (!documented) throw error;
            return;
          }
          expect(toLive).toBe(true);
          expect(socket.destroyed).toBe(false);
          socket.destroy();
        },
      ),
      { numRuns: 200 },
    );
    await assertNoLeaks(before, 50);
  });
});
