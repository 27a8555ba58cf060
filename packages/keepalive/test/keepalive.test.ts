import net from 'node:net';
import { freePort, leakSnapshot, assertNoLeaks } from '@halfopen/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectTimeoutError,
  connect,
  detectionTimeMs,
  KeepAliveUnsupportedError,
  keepAliveServer,
  keepAliveSupport,
  setKeepAlive,
} from '../src/index.js';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const nodeHasFull = major > 26 || (major === 26 && minor >= 4);

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
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

describe('setKeepAlive', () => {
  it('sets idle, interval, count and TCP_USER_TIMEOUT and reads them back, by the right path for this Node', async () => {
    const port = await server();
    const socket = net.connect(port, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    const report = setKeepAlive(socket, { idleMs: 2000, intervalMs: 1500, count: 4 });
    expect(report.via).toBe(nodeHasFull ? 'node' : 'native');
    // Whole seconds: 1500 ms becomes 2 s, as in force.
    expect(report.applied).toEqual({
      keepalive: true,
      idleMs: 2000,
      intervalMs: 2000,
      count: 4,
      userTimeoutMs: 10_000,
    });
    expect(report.detectionTimeMs).toBe(10_000);
    expect(report.unsupported).toEqual([]);
  });

  it('userTimeoutMs can be set on its own value', async () => {
    const port = await server();
    const socket = net.connect(port, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    expect(
      setKeepAlive(socket, { idleMs: 1000, intervalMs: 1000, count: 2, userTimeoutMs: 2500 })
        .applied?.userTimeoutMs,
    ).toBe(2500);
  });

  it('reports what it could not apply on a socket without a file descriptor; strict throws', () => {
    const socket = new net.Socket();
    const report = setKeepAlive(socket, { idleMs: 1000, intervalMs: 1000, count: 2 });
    expect(report.applied).toBeUndefined();
    expect(report.unsupported.join(' ')).toMatch(/userTimeoutMs/);
    expect(() =>
      setKeepAlive(socket, { idleMs: 1000, intervalMs: 1000, count: 2 }, { strict: true }),
    ).toThrow(KeepAliveUnsupportedError);
    socket.destroy();
  });

  it.each([
    [
      { idleMs: 500, intervalMs: 1000, count: 1 },
      RangeError,
      /options\.idleMs must be at least 1000 ms .* got 500/,
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
    [
      { idleMs: 1000, intervalMs: 1000, count: 1, userTimeoutMs: 1.5 },
      RangeError,
      /options\.userTimeoutMs/,
    ],
  ])('rejects %o naming the option', (bad, Type, msg) => {
    const socket = new net.Socket();
    expect(() => setKeepAlive(socket, bad)).toThrow(Type);
    expect(() => setKeepAlive(socket, bad)).toThrow(msg);
    socket.destroy();
  });

  it('keepAliveSupport and detectionTimeMs say what this process can do', () => {
    const s = keepAliveSupport();
    expect(s).toMatchObject({
      interval: true,
      count: true,
      userTimeout: true,
      readBack: true,
      via: nodeHasFull ? 'node' : 'native',
    });
    expect(detectionTimeMs({ idleMs: 1000, intervalMs: 1000, count: 2 })).toBe(3000);
  });

  it('keepAliveServer applies the settings to every accepted socket', async () => {
    const reports: number[] = [];
    const srv = net.createServer((s) => s.on('error', () => {}));
    keepAliveServer(
      srv,
      { idleMs: 3000, intervalMs: 1000, count: 2 },
      { onReport: (r) => reports.push(r.applied!.idleMs) },
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    expect(reports).toEqual([3000]);
    c.destroy();
    srv.close();
  });
});

describe('connect', () => {
  it('connects, applies keepalive by default, and reports it', async () => {
    const port = await server();
    let report: unknown;
    const socket = await connect({ port, host: '127.0.0.1', onReport: (r) => (report = r) });
    cleanup.push(() => socket.destroy());
    expect(report).toMatchObject({
      applied: {
        keepalive: true,
        idleMs: 15_000,
        intervalMs: 5000,
        count: 3,
        userTimeoutMs: 30_000,
      },
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
      retries: { retries: 10, minTimeout: 50, maxTimeout: 100 },
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

  it('the overall deadline covers the backoffs and ends with HALFOPEN_ERR_CONNECT_TIMEOUT', async () => {
    const port = await freePort();
    const start = Date.now();
    const err = await connect({
      port,
      host: '127.0.0.1',
      timeoutMs: 300,
      retries: { retries: 100, minTimeout: 50 },
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
      retries: { retries: 5, minTimeout: 5000 },
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
    [{ port: 70000 }, /options\.port must be an integer within 0\.\.65535/],
    [{ port: 80, timeoutMs: 0 }, /options\.timeoutMs must be a finite number > 0, got 0/],
    [{ port: 80, attemptTimeoutMs: '5' }, /options\.attemptTimeoutMs must be a number/],
    [{ port: 80, retries: -1 }, /options\.retries must be an integer >= 0/],
    [
      { port: 80, keepAlive: { idleMs: 100, intervalMs: 1000, count: 1 } },
      /options\.keepAlive\.idleMs must be at least 1000 ms/,
    ],
  ])('connect(%o) rejects naming the option', async (bad, msg) => {
    await expect(connect(bad as never)).rejects.toThrow(msg);
  });
});
