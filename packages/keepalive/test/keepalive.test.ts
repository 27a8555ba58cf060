import { execFileSync } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { assertNoLeaks, freePort, leakSnapshot } from '@halfopen/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConnectTimeoutError,
  connect,
  detectionTimeMs,
  KeepAliveFailedError,
  type KeepAliveReport,
  keepAliveServer,
  keepAliveSupport,
  setKeepAlive,
} from '../src/index.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
async function server(onSocket: (s: net.Socket) => void = () => {}): Promise<number> {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => srv.close(r));
  });
  return (srv.address() as net.AddressInfo).port;
}
async function connected(): Promise<net.Socket> {
  const port = await server();
  const socket = net.connect(port, '127.0.0.1');
  cleanup.push(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  return socket;
}
function subscribe(name: string): unknown[] {
  const seen: unknown[] = [];
  const fn = (m: unknown) => seen.push(m);
  diagnostics.subscribe(name, fn);
  cleanup.push(() => diagnostics.unsubscribe(name, fn));
  return seen;
}

describe('setKeepAlive', () => {
  it('sets idle, interval, count and TCP_USER_TIMEOUT in one native call and reads them back', async () => {
    const socket = await connected();
    const report = setKeepAlive(socket, { idleMs: 2000, intervalMs: 1500, count: 4 });
    expect(report.via).toBe('native');
    // Whole seconds: 1500 ms becomes 2 s, as in force, and the report says so.
    expect(report.applied).toEqual({
      keepAlive: true,
      idleMs: 2000,
      intervalMs: 2000,
      count: 4,
      userTimeoutMs: 10_000,
    });
    expect(report.detectionTimeMs).toBe(10_000);
    expect(report.unsupported).toEqual([]);
    expect(report.adjusted).toEqual(['options.intervalMs 1500 rounded up to 2000 (whole seconds)']);
  });

  it('userTimeoutMs can be set on its own value, rounded up to whole ms', async () => {
    const socket = await connected();
    const report = setKeepAlive(socket, {
      idleMs: 1000,
      intervalMs: 1000,
      count: 2,
      userTimeoutMs: 2499.5,
    });
    expect(report.applied?.userTimeoutMs).toBe(2500);
  });

  // Finding 8: the default user timeout (idle + interval x count) reached 4.2e9 ms with the
  // largest settings, overflowed the addon's int32 and was not reported.
  it('the default user timeout of the largest settings is capped at 2^31-1 and the cap reported', async () => {
    const socket = await connected();
    const report = setKeepAlive(socket, { idleMs: 32_767_000, intervalMs: 32_767_000, count: 127 });
    expect(report.applied).toMatchObject({
      idleMs: 32_767_000,
      intervalMs: 32_767_000,
      count: 127,
      userTimeoutMs: 2 ** 31 - 1,
    });
    expect(report.adjusted.join(' ')).toMatch(/userTimeoutMs: the default .* capped at 2147483647/);
  });

  it('a socket that is not connected is a KeepAliveFailedError, not a half-applied setting', () => {
    const socket = new net.Socket();
    expect(() => setKeepAlive(socket, { idleMs: 1000, intervalMs: 1000, count: 2 })).toThrow(
      KeepAliveFailedError,
    );
    socket.destroy();
    expect(() => setKeepAlive(socket, { idleMs: 1000, intervalMs: 1000, count: 2 })).toThrow(
      /HALFOPEN_ERR_KEEPALIVE_FAILED: socket to .* closed before keepalive could be set/,
    );
  });

  it.each([
    [
      { idleMs: 500, intervalMs: 1000, count: 1 },
      RangeError,
      /options\.idleMs must be milliseconds within 1000\.\.32767000, got 500/,
    ],
    // Finding 8: the kernel takes at most 32767 s; these were accepted and then failed or half-applied.
    [
      { idleMs: 32_768_000, intervalMs: 1000, count: 1 },
      RangeError,
      /options\.idleMs .* got 32768000/,
    ],
    [
      { idleMs: 1000, intervalMs: 40_000_000, count: 1 },
      RangeError,
      /options\.intervalMs .* got 40000000/,
    ],
    [{ idleMs: 1000, intervalMs: -1, count: 1 }, RangeError, /options\.intervalMs/],
    [
      { idleMs: Number.NaN, intervalMs: 1000, count: 1 },
      TypeError,
      /options\.idleMs must be a number/,
    ],
    [
      { idleMs: 1000, intervalMs: 1000, count: 0 },
      RangeError,
      /options\.count must be an integer within 1\.\.127, got 0/,
    ],
    [{ idleMs: 1000, intervalMs: 1000, count: 128 }, RangeError, /options\.count .* got 128/],
    [
      { idleMs: 1000, intervalMs: 1000, count: 1, userTimeoutMs: 2 ** 31 },
      RangeError,
      /options\.userTimeoutMs .* got 2147483648/,
    ],
    [
      { idleMs: 1000, intervalMs: 1000, count: 1, idleMS: 5 },
      TypeError,
      /options\.idleMS is not an option \(did you mean options\.idleMs\?\)/,
    ],
  ])('rejects %o naming the option', (bad, Type, msg) => {
    const socket = new net.Socket();
    expect(() => setKeepAlive(socket, bad as never)).toThrow(Type);
    expect(() => setKeepAlive(socket, bad as never)).toThrow(msg);
    socket.destroy();
  });

  it('keepAliveSupport and detectionTimeMs say what this process can do', () => {
    expect(keepAliveSupport()).toMatchObject({
      interval: true,
      count: true,
      userTimeout: true,
      readBack: true,
      via: 'native',
    });
    expect(detectionTimeMs({ idleMs: 1000, intervalMs: 1000, count: 2 })).toBe(3000);
  });
});

describe('keepAliveServer', () => {
  it('applies the settings to every accepted socket until disposed', async () => {
    const reports: number[] = [];
    const srv = net.createServer((s) => s.on('error', () => {}));
    const handle = keepAliveServer(
      srv,
      { idleMs: 3000, intervalMs: 1000, count: 2 },
      { onReport: (r) => reports.push(r.applied!.idleMs) },
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => srv.close(r)));
    const port = (srv.address() as net.AddressInfo).port;
    const dial = async () => {
      const c = net.connect(port, '127.0.0.1');
      cleanup.push(() => c.destroy());
      await new Promise((r) => c.once('connect', r));
      await new Promise((r) => setTimeout(r, 50));
    };
    await dial();
    expect(reports).toEqual([3000]);
    // Finding 8: keepAliveServer returned nothing and could not be undone.
    handle[Symbol.dispose]();
    await dial();
    expect(reports).toEqual([3000]);
    expect(handle.stats()).toEqual({ applied: 1, failed: 0 });
    expect(srv.listenerCount('connection')).toBe(1);
  });

  // Finding 8: a failure was swallowed by an empty catch.
  it('reports a socket it could not configure to onError and the error channel', async () => {
    const srv = net.createServer();
    srv.on('connection', (s) => s.destroy()); // gone before keepalive is set
    const errors: unknown[] = [];
    const channel = subscribe('halfopen:keepalive:error');
    const handle = keepAliveServer(
      srv,
      { idleMs: 3000, intervalMs: 1000, count: 2 },
      { onError: (e) => errors.push(e) },
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => srv.close(r)));
    const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    c.on('error', () => {});
    cleanup.push(() => c.destroy());
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toMatchObject({ code: 'HALFOPEN_ERR_KEEPALIVE_FAILED' });
    expect(channel).toEqual([
      expect.objectContaining({ error: errors[0], where: 'keepAliveServer' }),
    ]);
    expect(handle.stats()).toEqual({ applied: 0, failed: 1 });
    handle.dispose();
  });

  it('a throwing onReport goes to the error channel, never into the server', async () => {
    const srv = net.createServer((s) => s.on('error', () => {}));
    const channel = subscribe('halfopen:keepalive:error');
    const handle = keepAliveServer(
      srv,
      { idleMs: 3000, intervalMs: 1000, count: 2 },
      {
        onReport: () => {
          throw new Error('listener bug');
        },
      },
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => srv.close(r)));
    const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    cleanup.push(() => c.destroy());
    await vi.waitFor(() => expect(channel).toHaveLength(1));
    expect(channel[0]).toMatchObject({ error: { message: 'listener bug' } });
    handle.dispose();
  });
});

describe('connect', () => {
  it('connects, applies keepalive by default, and reports it', async () => {
    const port = await server();
    let report: KeepAliveReport | undefined;
    const socket = await connect({ port, host: '127.0.0.1', onReport: (r) => (report = r) });
    cleanup.push(() => socket.destroy());
    expect(report).toMatchObject({
      via: 'native',
      applied: {
        keepAlive: true,
        idleMs: 15_000,
        intervalMs: 5000,
        count: 3,
        userTimeoutMs: 30_000,
      },
    });
  });

  it('with tls, keepalive is set and read back on the socket under the TLS layer', async () => {
    // A throwaway self-signed certificate.
    const dir = mkdtempSync(join(tmpdir(), 'keepalive-tls-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
      ].concat([
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=localhost',
      ]),
      { stdio: 'ignore' },
    );
    const key = readFileSync(join(dir, 'key.pem'));
    const cert = readFileSync(join(dir, 'cert.pem'));
    const accepted: net.Socket[] = [];
    const srv = tls.createServer({ key, cert }, (s) => {
      accepted.push(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => {
      for (const s of accepted) s.destroy();
      return new Promise((r) => srv.close(r));
    });
    let report: KeepAliveReport | undefined;
    const socket = await connect({
      port: (srv.address() as net.AddressInfo).port,
      host: '127.0.0.1',
      tls: { rejectUnauthorized: false },
      keepAlive: { idleMs: 4000, intervalMs: 2000, count: 2 },
      onReport: (r) => (report = r),
    });
    cleanup.push(() => socket.destroy());
    expect(socket).toBeInstanceOf(tls.TLSSocket);
    expect(report).toMatchObject({
      via: 'native',
      applied: { keepAlive: true, idleMs: 4000, intervalMs: 2000, count: 2, userTimeoutMs: 8000 },
    });
  });

  // Finding 8: `keepAlive: false` silently dropped userTimeoutMs.
  it('keepAlive: false with userTimeoutMs still sets TCP_USER_TIMEOUT and reports it', async () => {
    const port = await server();
    let report: KeepAliveReport | undefined;
    const socket = await connect({
      port,
      host: '127.0.0.1',
      keepAlive: false,
      userTimeoutMs: 2500,
      onReport: (r) => (report = r),
    });
    cleanup.push(() => socket.destroy());
    expect(report).toMatchObject({
      via: 'off',
      requested: { userTimeoutMs: 2500 },
      applied: { keepAlive: false, userTimeoutMs: 2500 },
      detectionTimeMs: Number.POSITIVE_INFINITY,
    });
  });

  it('retries a refused connect and succeeds once the server listens', async () => {
    const port = await freePort();
    const later = setTimeout(async () => {
      const srv = net.createServer((s) => s.on('error', () => {}));
      srv.listen(port, '127.0.0.1');
      cleanup.push(() => new Promise((r) => srv.close(r)));
    }, 250);
    cleanup.push(() => clearTimeout(later));
    const socket = await connect({
      port,
      host: '127.0.0.1',
      retries: { retries: 10, minDelayMs: 50, maxDelayMs: 100 },
      keepAlive: false,
    });
    cleanup.push(() => socket.destroy());
    expect(socket.remotePort).toBe(port);
  });

  it('does not retry what retryOn refuses', async () => {
    const port = await freePort();
    let calls = 0;
    await expect(
      connect({
        port,
        host: '127.0.0.1',
        retries: 5,
        retryOn: () => {
          calls++;
          return false;
        },
        keepAlive: false,
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(calls).toBe(1);
  });

  // Finding 8: `retries: "0"` was ignored and two retries ran.
  it('retries: "0" is a TypeError and nothing is dialed', async () => {
    const dial = vi.spyOn(net, 'connect');
    await expect(connect({ port: await freePort(), retries: '0' as never })).rejects.toThrow(
      /options\.retries must be a number \(a count\), got "0"/,
    );
    expect(dial).not.toHaveBeenCalled();
  });

  // A retryOn that answers with a promise: before, the promise counted as "retry" and, when it
  // rejected, was an unhandled rejection. Now a promise means no retry and its rejection goes
  // to the error channel.
  it('a retryOn returning a rejecting promise does not retry and leaves no unhandled rejection', async () => {
    const channel = subscribe('halfopen:keepalive:error');
    const port = await freePort();
    const err = await connect({
      port,
      host: '127.0.0.1',
      retries: 3,
      retryOn: (() => Promise.reject(new Error('async decider'))) as never,
      keepAlive: false,
    }).catch((e) => e);
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    await vi.waitFor(() => expect(channel).toHaveLength(1));
    expect(channel[0]).toMatchObject({ error: { message: 'async decider' } });
  });

  it('a throwing retryOn ends the connect with what it threw and leaves nothing behind', async () => {
    const before = leakSnapshot();
    const boom = new Error('decider bug');
    await expect(
      connect({
        port: await freePort(),
        host: '127.0.0.1',
        retries: 3,
        timeoutMs: 10_000,
        retryOn: () => {
          throw boom;
        },
        keepAlive: false,
      }),
    ).rejects.toBe(boom);
    await assertNoLeaks(before, 20);
  });

  it('an attempt whose socket closes without an error settles with HALFOPEN_ERR_CONNECT_CLOSED', async () => {
    const real = net.connect;
    vi.spyOn(net, 'connect').mockImplementationOnce(((...args: Parameters<typeof net.connect>) => {
      const s = real(...args);
      s.destroy(); // destroyed before it connects, with no error
      return s;
    }) as typeof net.connect);
    const port = await server();
    await expect(
      connect({ port, host: '127.0.0.1', retries: 0, keepAlive: false }),
    ).rejects.toMatchObject({ code: 'HALFOPEN_ERR_CONNECT_CLOSED', attempt: 1 });
  });

  it('the overall deadline covers the backoffs and ends with HALFOPEN_ERR_CONNECT_TIMEOUT', async () => {
    const port = await freePort();
    const start = Date.now();
    const err = await connect({
      port,
      host: '127.0.0.1',
      timeoutMs: 300,
      retries: { retries: 100, minDelayMs: 50 },
      keepAlive: false,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectTimeoutError);
    expect(err.message).toMatch(
      /connect to 127\.0\.0\.1:\d+ did not complete within timeoutMs 300/,
    );
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it('aborting during the backoff rejects with the reason and leaves no timer or socket', async () => {
    const before = leakSnapshot();
    const port = await freePort();
    const ac = new AbortController();
    const p = connect({
      port,
      host: '127.0.0.1',
      retries: { retries: 5, minDelayMs: 5000 },
      signal: ac.signal,
      keepAlive: false,
    });
    setTimeout(() => ac.abort(new Error('shutting down')), 100);
    await expect(p).rejects.toThrow('shutting down');
    await assertNoLeaks(before, 20);
  });

  it('an already aborted signal rejects at once', async () => {
    const reason = new Error('no');
    await expect(connect({ port: 1, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it.each([
    [{ port: 70000 }, RangeError, /options\.port must be an integer within 0\.\.65535/],
    [
      { port: 80, timeoutMs: 0 },
      RangeError,
      /options\.timeoutMs must be milliseconds within 1\.\.2147483647, got 0/,
    ],
    [{ port: 80, attemptTimeoutMs: '5' }, TypeError, /options\.attemptTimeoutMs must be a number/],
    [{ port: 80, retries: -1 }, RangeError, /options\.retries must be an integer within 0\.\./],
    [{ port: 80, retries: { maxDelayMs: 2 ** 31 } }, RangeError, /options\.retries\.maxDelayMs/],
    [
      { port: 80, retries: { retires: 1 } },
      TypeError,
      /options\.retries\.retires is not an option/,
    ],
    // Finding 1: Node fires a timer of 2^31 ms or more after 1 ms; these timed out at once.
    [{ port: 80, timeoutMs: 2 ** 31 }, RangeError, /options\.timeoutMs .* got 2147483648/],
    [
      { port: 80, attemptTimeoutMs: 30 * 24 * 3600 * 1000 },
      RangeError,
      /options\.attemptTimeoutMs .* got 2592000000/,
    ],
    [
      { port: 80, keepAlive: { idleMs: 100, intervalMs: 1000, count: 1 } },
      RangeError,
      /options\.keepAlive\.idleMs must be milliseconds within 1000\.\.32767000/,
    ],
    // Finding 8: the kernel's ranges, checked before anything is dialed.
    [
      { port: 80, keepAlive: { idleMs: 32_768_000, intervalMs: 1000, count: 1 } },
      RangeError,
      /options\.keepAlive\.idleMs .* got 32768000/,
    ],
    // Finding 8: the error named options.keepAlive.userTimeoutMs, an option the user never wrote.
    [{ port: 80, userTimeoutMs: -5 }, RangeError, /^options\.userTimeoutMs must be/],
    [
      { port: 80, keepAlive: false, userTimeoutMs: 'x' },
      TypeError,
      /^options\.userTimeoutMs must be a number/,
    ],
    [
      {
        port: 80,
        userTimeoutMs: 1,
        keepAlive: { idleMs: 1000, intervalMs: 1000, count: 1, userTimeoutMs: 1 },
      },
      TypeError,
      /both given/,
    ],
    // An unknown key (a typo) was passed to net.connect and ignored: no deadline at all.
    [
      { port: 80, timeoutMS: 5000 },
      TypeError,
      /options\.timeoutMS is not an option \(did you mean options\.timeoutMs\?\)/,
    ],
    [{ port: 80, keepAlive: true }, TypeError, /options\.keepAlive must be an object/],
  ])('connect(%o) rejects naming the option, before dialing', async (bad, Type, msg) => {
    const dial = vi.spyOn(net, 'connect');
    const err = await connect(bad as never).catch((e) => e);
    expect(err).toBeInstanceOf(Type);
    expect(err.message).toMatch(msg);
    expect(dial).not.toHaveBeenCalled();
  });
});
