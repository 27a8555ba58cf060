import diagnostics from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { connectPeer, type Peer, waitFor } from '@halfopen/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { guardServer, type ServerGuard, type SocketGuard } from '../src/index.js';
import { FakeSocket } from './fixtures/fake-socket.js';

// Real servers on 127.0.0.1:0 with real timers; deadlines are short and assertions have slack.
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
const listen = (server: net.Server) =>
  new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );
function track<T extends net.Server>(server: T, guard: ServerGuard): T {
  cleanup.push(
    () => new Promise((r) => server.close(r)),
    () => guard.dispose(),
    () => (server as unknown as Partial<http.Server>).closeAllConnections?.call(server),
  );
  return server;
}
const peer = async (port: number, behaviour: Parameters<typeof connectPeer>[1]) => {
  const p: Peer = await connectPeer(port, behaviour);
  cleanup.push(() => p.close());
  return p;
};
const get = (port: number, agent: http.Agent) =>
  new Promise<string>((resolve, reject) => {
    http
      .get({ port, host: '127.0.0.1', agent, path: '/' }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d)).on('end', () => resolve(body));
      })
      .on('error', reject);
  });

describe('guardServer on http.Server', () => {
  it('cuts a client that trickles its headers, counts it, and serves normal requests', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    const guard = guardServer(server, {
      readIdleMs: 300,
      minReadBytesPerSec: 100,
      resolutionMs: 20,
    });
    track(server, guard);
    const port = await listen(server);
    const trickler = await peer(port, {
      kind: 'trickler',
      intervalMs: 100,
      payload: Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`),
    });
    const agent = new http.Agent({ keepAlive: false });
    for (let i = 0; i < 5; i++) expect(await get(port, agent)).toBe('ok');
    await waitFor(
      () => trickler.socket.destroyed || trickler.socket.readableEnded,
      'the trickler to be cut',
      {
        timeoutMs: 3000,
      },
    );
    expect(trickler.bytesSent).toBeLessThan(20);
    expect(guard.stats().destroyed['read-idle']).toBe(1);
    expect(guard.stats().guarded).toBe(6);
  });

  it('closes an idle keep-alive connection', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    server.keepAliveTimeout = 0; // http's own idle timer off: the guard does it
    const guard = guardServer(server, { readIdleMs: 200, resolutionMs: 20 });
    track(server, guard);
    const port = await listen(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    expect(await get(port, agent)).toBe('ok');
    expect(guard.stats().active).toBe(1);
    await waitFor(() => guard.stats().active === 0, 'the idle connection to close', {
      timeoutMs: 3000,
    });
    expect(guard.stats().destroyed['read-idle']).toBe(1);
    // The client side learns of the close asynchronously; then the agent connects anew.
    await waitFor(
      () => Object.keys(agent.freeSockets).length === 0,
      'the agent to drop the closed socket',
    );
    expect(await get(port, agent)).toBe('ok');
  });

  it('leaves steady traffic alone', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    const guard = guardServer(server, { firstByteMs: 200, readIdleMs: 200, resolutionMs: 20 });
    track(server, guard);
    const port = await listen(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    const start = Date.now();
    while (Date.now() - start < 800) {
      expect(await get(port, agent)).toBe('ok');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(guard.stats()).toMatchObject({ guarded: 1, active: 1 });
  });
});

describe('guardServer on tls.Server', () => {
  const key = readFileSync(new URL('./fixtures/localhost-key.pem', import.meta.url));
  const cert = readFileSync(new URL('./fixtures/localhost-cert.pem', import.meta.url));

  it('cuts a connection that never starts its handshake and serves a real client', async () => {
    const server = tls.createServer({ key, cert }, (s) => s.end('hello'));
    const guard = guardServer(server, { firstByteMs: 200, resolutionMs: 20 });
    track(server, guard);
    const port = await listen(server);
    const silent = await peer(port, { kind: 'silent' });
    const reply = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      let got = '';
      c.on('data', (d) => (got += d))
        .on('end', () => resolve(got))
        .on('error', reject);
    });
    expect(reply).toBe('hello');
    await waitFor(
      () => silent.socket.destroyed || silent.socket.readableEnded,
      'the silent peer to be cut',
      {
        timeoutMs: 3000,
      },
    );
    expect(guard.stats().destroyed['first-byte']).toBe(1);
  });
});

describe('ServerGuard', () => {
  it('stops guarding on dispose and leaves open sockets open', async () => {
    const server = net.createServer();
    const guard = guardServer(server, { firstByteMs: 100, resolutionMs: 20 });
    track(server, guard);
    const port = await listen(server);
    const first = await peer(port, { kind: 'silent' });
    await waitFor(() => guard.stats().active === 1, 'the guard');
    guard.dispose();
    expect(guard.stats().active).toBe(0);
    const second = await peer(port, { kind: 'silent' });
    await new Promise((r) => setTimeout(r, 300));
    expect(first.socket.destroyed || first.socket.readableEnded).toBe(false);
    expect(second.socket.readableEnded).toBe(false);
    expect(guard.stats().guarded).toBe(1);
    expect(server.listenerCount('connection')).toBe(0);
  });

  it("dispose() disposes its own guards and never walks another server's", () => {
    // Regression (issue 13, finding 7): dispose() used to scan every guard on the shared wheel
    // (every server with the same resolution) and read each one's owner. Here the other
    // server's guards report any such read; none may happen.
    const options = { readIdleMs: 60_000, resolutionMs: 1000 };
    const mine = new EventEmitter();
    const theirs = new EventEmitter();
    const a = guardServer(mine as never, options);
    const b = guardServer(theirs as never, options);
    const theirGuards: SocketGuard[] = [];
    b.on('guard', (g) => theirGuards.push(g));
    let reads = 0;
    for (let i = 0; i < 100; i++) theirs.emit('connection', new FakeSocket().asSocket());
    for (const g of theirGuards) {
      const owner = (g as unknown as { owner?: unknown }).owner;
      Object.defineProperty(g, 'owner', {
        get: () => {
          reads++;
          return owner;
        },
      });
    }
    const socket = new FakeSocket();
    mine.emit('connection', socket.asSocket());
    expect(a.stats().active).toBe(1);
    a.dispose();
    expect(a.stats().active).toBe(0);
    expect(socket.listenerCount('close')).toBe(0);
    expect(reads).toBe(0);
    expect(b.stats().active).toBe(100);
    expect(theirGuards.every((g) => !g.disposed)).toBe(true);
    b.dispose();
    expect(theirGuards.every((g) => g.disposed)).toBe(true);
    expect(b.stats().active).toBe(0);
  });

  it('a guard listener that throws is reported and the connection stays guarded', () => {
    const reported: unknown[] = [];
    const sub = (m: unknown) => reported.push(m);
    diagnostics.subscribe('halfopen:idle-timeout:error', sub);
    const source = new EventEmitter();
    const guard = guardServer(source as never, { readIdleMs: 60_000 });
    try {
      const seen: SocketGuard[] = [];
      guard.on('guard', () => {
        throw new Error('listener bug');
      });
      guard.on('guard', (g) => seen.push(g));
      const socket = new FakeSocket();
      expect(() => source.emit('connection', socket.asSocket())).not.toThrow();
      expect(seen).toHaveLength(1);
      expect(seen[0]!.disposed).toBe(false);
      expect(reported).toEqual([expect.objectContaining({ during: 'guard', socket })]);
    } finally {
      guard.dispose();
      diagnostics.unsubscribe('halfopen:idle-timeout:error', sub);
    }
  });

  it('counts timeouts seen through onTimeout and has no emit of its own', async () => {
    const source = new EventEmitter();
    const seen: string[] = [];
    let clock = 0;
    const guard = guardServer(source as never, {
      firstByteMs: 10,
      resolutionMs: 5,
      now: () => clock,
      onTimeout: (info, socket) => {
        seen.push(`${info.reason} ${socket.remotePort}`);
        return seen.length === 1 ? 'ignore' : 'destroy';
      },
    });
    cleanup.push(() => guard.dispose());
    const socket = new FakeSocket();
    socket.on('error', () => {});
    source.emit('connection', socket.asSocket());
    clock = 20;
    await waitFor(() => seen.length === 1, 'the first timeout');
    clock = 40;
    await waitFor(() => socket.destroyed, 'the second timeout');
    expect(seen).toEqual(['first-byte 40000', 'first-byte 40000']);
    expect(guard.stats()).toMatchObject({ ignored: 1, active: 0, destroyed: { 'first-byte': 1 } });
    expect('emit' in guard).toBe(false);
  });

  it('rejects something that is not a server', () => {
    expect(() => guardServer({} as never, { firstByteMs: 1 })).toThrow(TypeError);
    expect(() => guardServer(net.createServer(), { firstByteMs: -5 })).toThrow(
      /options\.firstByteMs/,
    );
  });
});
