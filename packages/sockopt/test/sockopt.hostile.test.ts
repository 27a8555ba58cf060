import net from 'node:net';
import { hostileOptions, hostileValue, isOptionError } from '@halfopen/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  getSockopts,
  type SockoptError,
  sendQueueBytes,
  setSockopts,
  type Sockopts,
  tcpInfo,
} from '../src/index.js';

const KEYS = ['keepAlive', 'idleMs', 'intervalMs', 'count', 'userTimeoutMs'];
const validSeconds = fc.integer({ min: 1, max: 32_767 }).map((s) => s * 1000);

let srv: net.Server;
let socket: net.Socket;
const accepted: net.Socket[] = [];
beforeAll(async () => {
  srv = net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
});
afterAll(async () => {
  socket.destroy();
  for (const s of accepted) s.destroy();
  await new Promise((r) => srv.close(r));
});

describe('sockopt under hostile input', () => {
  it('setSockopts(options): an error naming the option with nothing changed, or exactly what was asked, read back', () => {
    fc.assert(
      fc.property(
        hostileOptions(KEYS, {
          keepAlive: fc.boolean(),
          idleMs: validSeconds,
          intervalMs: validSeconds,
          count: fc.integer({ min: 1, max: 127 }),
          userTimeoutMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        }),
        (options) => {
          const before = getSockopts(socket);
          let applied: Sockopts;
          try {
            applied = setSockopts(socket, options as Partial<Sockopts>);
          } catch (err) {
            expect(isOptionError(err, 'options'), String(err)).toBe(true);
            expect(getSockopts(socket)).toEqual(before);
            return;
          }
          expect(getSockopts(socket)).toEqual(applied);
          const o = options as Record<string, number | boolean | undefined>;
          const expected: Sockopts = {
            keepAlive: o.keepAlive === undefined ? before.keepAlive : (o.keepAlive as boolean),
            idleMs:
              o.idleMs === undefined
                ? before.idleMs
                : Math.ceil((o.idleMs as number) / 1000) * 1000,
            intervalMs:
              o.intervalMs === undefined
                ? before.intervalMs
                : Math.ceil((o.intervalMs as number) / 1000) * 1000,
            count: o.count === undefined ? before.count : (o.count as number),
            userTimeoutMs:
              o.userTimeoutMs === undefined
                ? before.userTimeoutMs
                : Math.ceil(o.userTimeoutMs as number) + 0, // -0 reads back as 0
          };
          expect(applied).toEqual(expected);
        },
      ),
    );
  });

  it('anything passed as the socket: a TypeError or a coded SockoptError, never a crash', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          hostileValue(),
          fc.record({ _handle: fc.record({ fd: hostileValue() }) }),
          fc.record({ _handle: fc.constant(null), destroyed: fc.boolean() }),
        ),
        (value) => {
          for (const call of [
            () => tcpInfo(value as net.Socket),
            () => getSockopts(value as net.Socket),
            () => sendQueueBytes(value as net.Socket),
          ]) {
            try {
              call();
            } catch (err) {
              const ok =
                err instanceof TypeError ||
                ['HALFOPEN_ERR_SOCKET_DESTROYED', 'HALFOPEN_ERR_SOCKOPT_FAILED'].includes(
                  (err as SockoptError).code,
                );
              expect(ok, String(err)).toBe(true);
            }
          }
        },
      ),
    );
  });
});
