import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { duplexPair } from 'node:stream';
import tls from 'node:tls';
import { assertNoLeaks, leakSnapshot } from '@halfopen/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  getSockopts,
  SockoptError,
  sendQueueBytes,
  setSockopts,
  support,
  tcpInfo,
} from '../src/index.js';

const cleanup: Array<() => unknown> = [];
let before: ReturnType<typeof leakSnapshot>;
beforeEach(() => {
  // Sockets, servers and pipes are counted. This package starts no timer (it has no timer
  // code); timers and immediates come and go with the test runner's own RPC and TLS teardown.
  before = {
    ...leakSnapshot(),
    Timeout: Number.POSITIVE_INFINITY,
    Immediate: Number.POSITIVE_INFINITY,
  };
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await assertNoLeaks(before);
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

async function connected(onServerSocket?: (s: net.Socket) => void): Promise<net.Socket> {
  const port = await server(onServerSocket);
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  cleanup.push(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  return socket;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as SockoptError).code;
  }
  return undefined;
}

describe('support', () => {
  it('loads the linux-x64 glibc binary on this machine (a missing build fails here, with its reason)', () => {
    const s = support();
    expect(s.reason).toBeUndefined();
    expect(s).toMatchObject({
      native: true,
      platform: `linux-${process.arch}-glibc`,
      sockopts: true,
      userTimeout: true,
      tcpInfo: true,
      sendQueue: true,
    });
    expect(s.binary).toMatch(/prebuilds\/linux-x64\/sockopt\.node$/);
  });
});

describe('setSockopts / getSockopts', () => {
  it('reads the kernel defaults of a fresh socket: keepalive off', async () => {
    const socket = await connected();
    expect(getSockopts(socket).keepAlive).toBe(false);
  });

  it('sets keepalive, idle, interval, count and TCP_USER_TIMEOUT and returns what the kernel holds', async () => {
    const socket = await connected();
    const applied = setSockopts(socket, {
      keepAlive: true,
      idleMs: 3000,
      intervalMs: 1500,
      count: 4,
      userTimeoutMs: 7001,
    });
    // Whole seconds, rounded up: 1500 ms is 2 s in the kernel.
    expect(applied).toEqual({
      keepAlive: true,
      idleMs: 3000,
      intervalMs: 2000,
      count: 4,
      userTimeoutMs: 7001,
    });
    expect(getSockopts(socket)).toEqual(applied);
  });

  it('leaves options it is not given as they are', async () => {
    const socket = await connected();
    setSockopts(socket, { keepAlive: true, idleMs: 5000, count: 5 });
    const after = setSockopts(socket, { userTimeoutMs: 1234 });
    expect(after).toMatchObject({ keepAlive: true, idleMs: 5000, count: 5, userTimeoutMs: 1234 });
  });

  it('userTimeoutMs 0 restores the system default and keepAlive false turns keepalive off', async () => {
    const socket = await connected();
    setSockopts(socket, { keepAlive: true, userTimeoutMs: 5000 });
    expect(setSockopts(socket, { keepAlive: false, userTimeoutMs: 0 })).toMatchObject({
      keepAlive: false,
      userTimeoutMs: 0,
    });
  });

  it('works on the accepted (server) side', async () => {
    let accepted: net.Socket | undefined;
    await connected((s) => {
      accepted = s;
    });
    await new Promise((r) => setImmediate(r));
    expect(accepted).toBeDefined();
    expect(setSockopts(accepted as net.Socket, { count: 7 }).count).toBe(7);
  });

  it.each([
    [{ idleMs: 999 }, 'options.idleMs', RangeError],
    [{ idleMs: 32_768_000 }, 'options.idleMs', RangeError],
    [{ intervalMs: 0 }, 'options.intervalMs', RangeError],
    [{ intervalMs: Number.POSITIVE_INFINITY }, 'options.intervalMs', RangeError],
    [{ count: 0 }, 'options.count', RangeError],
    [{ count: 128 }, 'options.count', RangeError],
    [{ count: 2.5 }, 'options.count', RangeError],
    [{ userTimeoutMs: -1 }, 'options.userTimeoutMs', RangeError],
    [{ userTimeoutMs: 2 ** 31 }, 'options.userTimeoutMs', RangeError],
    [{ idleMs: '5000' }, 'options.idleMs', TypeError],
    [{ keepAlive: 1 }, 'options.keepAlive', TypeError],
    [{ idlems: 5000 }, 'options.idlems', TypeError],
  ])('rejects %o naming %s, before any syscall', async (options, name, type) => {
    const socket = await connected();
    const inForce = getSockopts(socket);
    // A valid option beside the bad one must not be applied either.
    const bad = { keepAlive: true, ...options } as never;
    expect(() => setSockopts(socket, bad)).toThrow(type);
    expect(() => setSockopts(socket, bad)).toThrow(name);
    expect(getSockopts(socket)).toEqual(inForce);
  });

  it('a destroyed socket is HALFOPEN_ERR_SOCKET_DESTROYED, never a crash', async () => {
    const socket = await connected();
    socket.destroy();
    expect(codeOf(() => getSockopts(socket))).toBe('HALFOPEN_ERR_SOCKET_DESTROYED');
    expect(codeOf(() => setSockopts(socket, { count: 3 }))).toBe('HALFOPEN_ERR_SOCKET_DESTROYED');
    expect(codeOf(() => tcpInfo(socket))).toBe('HALFOPEN_ERR_SOCKET_DESTROYED');
    expect(codeOf(() => sendQueueBytes(socket))).toBe('HALFOPEN_ERR_SOCKET_DESTROYED');
  });

  it('a socket that never connected is HALFOPEN_ERR_SOCKET_DESTROYED with a reason', () => {
    const socket = new net.Socket();
    expect(() => getSockopts(socket)).toThrow(/not connected/);
    expect(() => getSockopts(socket)).toThrow(SockoptError);
    socket.destroy();
  });

  it('a TLSSocket over a JavaScript stream (no fd) is HALFOPEN_ERR_SOCKET_DESTROYED, not a TCP socket', () => {
    const [a] = duplexPair();
    const socket = new tls.TLSSocket(a);
    expect(() => tcpInfo(socket)).toThrow(/not a TCP socket/);
    expect(codeOf(() => setSockopts(socket, { count: 2 }))).toBe('HALFOPEN_ERR_SOCKET_DESTROYED');
    socket.destroy();
  });

  it('a non-socket is a TypeError', () => {
    expect(() => getSockopts(undefined as never)).toThrow(TypeError);
    expect(() => tcpInfo(42 as never)).toThrow(TypeError);
  });

  it('a kernel refusal is HALFOPEN_ERR_SOCKOPT_FAILED naming the errno and the option', async () => {
    // A Unix domain socket has an fd but no TCP options.
    const path = `/tmp/halfopen-sockopt-${process.pid}.sock`;
    const srv = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => srv.listen(path, r));
    const socket = net.connect(path);
    cleanup.push(() => new Promise((r) => srv.close(r)));
    cleanup.push(() => socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    let err: SockoptError | undefined;
    try {
      setSockopts(socket, { idleMs: 2000 });
    } catch (e) {
      err = e as SockoptError;
    }
    expect(err?.code).toBe('HALFOPEN_ERR_SOCKOPT_FAILED');
    expect(err?.option).toBe('setsockopt(TCP_KEEPIDLE)');
    expect(err?.errno).toMatch(/^E[A-Z]+$/);
    expect(err?.message).toContain(err?.errno);
    expect(codeOf(() => tcpInfo(socket))).toBe('HALFOPEN_ERR_SOCKOPT_FAILED');
  });
});

describe('tcpInfo / sendQueueBytes', () => {
  it('an established loopback connection: state, rtt, mss and the peer window are present', async () => {
    const socket = await connected();
    const info = tcpInfo(socket);
    expect(info?.state).toBe('ESTABLISHED');
    expect(info?.rttUs).toBeGreaterThan(0);
    expect(info?.sendMss).toBeGreaterThan(0);
    expect(info?.peerWindow).toBeGreaterThan(0);
    expect(info?.bytesAcked).toBe(1); // the SYN counts one
    expect(info?.retransmits).toBe(0);
  });

  it('bytesReceived counts what arrived and bytesAcked what the peer acknowledged', async () => {
    const socket = await connected((s) => s.write(Buffer.alloc(5000)));
    let got = 0;
    await new Promise<void>((r) =>
      socket.on('data', (d: Buffer) => {
        got += d.length;
        if (got === 5000) r();
      }),
    );
    expect(tcpInfo(socket)?.bytesReceived).toBe(5000);
  });

  it('sees CLOSE_WAIT after the peer closed and we did not', async () => {
    const socket = await connected((s) => s.end());
    socket.resume();
    await new Promise((r) => socket.once('end', r));
    expect(tcpInfo(socket)?.state).toBe('CLOSE_WAIT');
  });

  it('sendQueueBytes is 0 once the peer has acknowledged everything', async () => {
    const socket = await connected((s) => s.resume());
    await new Promise((r) => socket.write(Buffer.alloc(10_000), r));
    let queued = sendQueueBytes(socket);
    for (let i = 0; i < 50 && queued !== 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      queued = sendQueueBytes(socket);
    }
    expect(queued).toBe(0);
    expect(tcpInfo(socket)?.bytesAcked).toBe(10_001);
  });
});

describe('TLS', () => {
  const key = readFileSync(new URL('./fixtures/key.pem', import.meta.url));
  const cert = readFileSync(new URL('./fixtures/cert.pem', import.meta.url));

  async function tlsPair(): Promise<{ client: tls.TLSSocket; server: tls.TLSSocket }> {
    const accepted: tls.TLSSocket[] = [];
    const srv = tls.createServer({ key, cert }, (s) => {
      s.on('error', () => {});
      accepted.push(s);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => srv.close(r)));
    cleanup.push(() => {
      for (const s of accepted) s.destroy();
    });
    const client = tls.connect({
      port: (srv.address() as net.AddressInfo).port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
    });
    client.on('error', () => {});
    cleanup.push(() => client.destroy());
    await new Promise((r) => client.once('secureConnect', r));
    while (accepted.length === 0) await new Promise((r) => setImmediate(r));
    return { client, server: accepted[0] as tls.TLSSocket };
  }

  it('sets and reads options and TCP_INFO on both ends of a TLS connection', async () => {
    const { client, server } = await tlsPair();
    for (const s of [client, server]) {
      expect(setSockopts(s, { keepAlive: true, idleMs: 4000, userTimeoutMs: 9000 })).toMatchObject({
        keepAlive: true,
        idleMs: 4000,
        userTimeoutMs: 9000,
      });
      expect(tcpInfo(s)?.state).toBe('ESTABLISHED');
      // The handshake went through this fd: bytes were received on it.
      expect(tcpInfo(s)?.bytesReceived).toBeGreaterThan(0);
    }
  });

  it('works on a TLSSocket wrapping an existing net.Socket', async () => {
    const srv = tls.createServer({ key, cert }, (s) => s.on('error', () => {}));
    const accepted: net.Socket[] = [];
    srv.on('connection', (s) => accepted.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => srv.close(r)));
    cleanup.push(() => {
      for (const s of accepted) s.destroy();
    });
    const raw = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    raw.on('error', () => {});
    cleanup.push(() => raw.destroy());
    await new Promise((r) => raw.once('connect', r));
    const wrapped = tls.connect({ socket: raw, rejectUnauthorized: false });
    wrapped.on('error', () => {});
    cleanup.push(() => wrapped.destroy());
    await new Promise((r) => wrapped.once('secureConnect', r));
    expect(setSockopts(wrapped, { count: 6 }).count).toBe(6);
    expect(getSockopts(raw).count).toBe(6);
    wrapped.destroy();
    expect(codeOf(() => tcpInfo(wrapped))).toBe('HALFOPEN_ERR_SOCKET_DESTROYED');
  });
});

describe('the native part, called directly', () => {
  const native = createRequire(import.meta.url)('../prebuilds/linux-x64/sockopt.node') as {
    sockopts(fd: number, out: unknown, ...values: number[]): number;
    tcpInfo(fd: number, out: unknown): number;
  };

  it('refuses an output array of the wrong element type instead of writing past its end', () => {
    expect(() => native.sockopts(-1, new Uint8Array(7), -1, -1, -1, -1, -1)).toThrow(TypeError);
    expect(() => native.tcpInfo(-1, new Uint8Array(18))).toThrow(TypeError);
    expect(() => native.tcpInfo(-1, new Float32Array(18))).toThrow(TypeError);
  });
});
