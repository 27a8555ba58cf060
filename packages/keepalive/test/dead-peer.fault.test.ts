import net from 'node:net';
import { freePort, withNetns } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
import {
  ConnectTimeoutError,
  connect,
  detectionTimeMs,
  type KeepAliveSettings,
} from '../src/index.js';

// Real kernel TCP in a namespace per test; an iptables black hole (INPUT, both directions)
// makes the peer vanish without FIN or RST.

async function peerServer(): Promise<{ port: number; close(): void }> {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

/** Resolves with the error the socket died of and when. */
const death = (s: net.Socket) =>
  new Promise<{ err: NodeJS.ErrnoException; at: number }>((resolve) =>
    s.once('error', (err) => resolve({ err, at: Date.now() })),
  );

describe('dead peer detection on real kernel TCP', () => {
  it.each<KeepAliveSettings>([
    { idleMs: 1000, intervalMs: 1000, count: 2 },
    { idleMs: 2000, intervalMs: 1000, count: 1 },
    { idleMs: 1000, intervalMs: 2000, count: 2 },
  ])(
    'an idle socket to a vanished peer errors with ETIMEDOUT within idle + interval x count (%o)',
    async (ka) => {
      await withNetns(async (ns) => {
        const peer = await peerServer();
        const socket = await connect({ port: peer.port, host: '127.0.0.1', keepAlive: ka });
        await ns.blackhole(peer.port);
        const start = Date.now();
        const { err, at } = await death(socket);
        const budget = detectionTimeMs(ka);
        expect(err.code).toBe('ETIMEDOUT');
        expect(at - start).toBeGreaterThanOrEqual(budget - 1100); // probes are scheduled on whole seconds
        expect(at - start).toBeLessThan(budget + 2500);
        peer.close();
      });
    },
  );

  it('with data in flight, TCP_USER_TIMEOUT bounds how long it may stay unacknowledged', async () => {
    await withNetns(async (ns) => {
      const peer = await peerServer();
      // Keepalive would wait 60 s before probing; the user timeout cuts at 2 s.
      const socket = await connect({
        port: peer.port,
        host: '127.0.0.1',
        keepAlive: { idleMs: 60_000, intervalMs: 10_000, count: 5, userTimeoutMs: 2000 },
      });
      await ns.blackhole(peer.port);
      const start = Date.now();
      socket.write(Buffer.alloc(1000));
      const { err, at } = await death(socket);
      expect(err.code).toBe('ETIMEDOUT');
      expect(at - start).toBeGreaterThanOrEqual(1500);
      expect(at - start).toBeLessThan(6000);
      peer.close();
    });
  });

  it('with keepalive off, userTimeoutMs alone still bounds data in flight', async () => {
    await withNetns(async (ns) => {
      const peer = await peerServer();
      const socket = await connect({
        port: peer.port,
        host: '127.0.0.1',
        keepAlive: false,
        userTimeoutMs: 2000,
      });
      await ns.blackhole(peer.port);
      const start = Date.now();
      socket.write(Buffer.alloc(1000));
      const { err, at } = await death(socket);
      expect(err.code).toBe('ETIMEDOUT');
      expect(at - start).toBeGreaterThanOrEqual(1500);
      expect(at - start).toBeLessThan(6000);
      peer.close();
    });
  });

  it('a healthy idle peer is never dropped over 10x the idle time', async () => {
    await withNetns(async () => {
      const peer = await peerServer();
      const socket = await connect({
        port: peer.port,
        host: '127.0.0.1',
        keepAlive: { idleMs: 1000, intervalMs: 1000, count: 1 },
      });
      let died = false;
      socket.on('error', () => {
        died = true;
      });
      await new Promise((r) => setTimeout(r, 10_500));
      expect(died).toBe(false);
      expect(socket.destroyed).toBe(false);
      socket.destroy();
      peer.close();
    });
  });

  it('a connect to a black-holed port times out per attempt, and the retry succeeds once a server listens', async () => {
    await withNetns(async (ns) => {
      const port = await freePort();
      const rules = await ns.blackhole(port);
      const start = Date.now();
      const timeouts: number[] = [];
      const srvReady = (async () => {
        // After two attempts have timed out, lift the black hole and listen.
        await new Promise((r) => setTimeout(r, 700));
        await ns.remove(rules);
        const srv = net.createServer((s) => s.on('error', () => {}));
        await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
        return srv;
      })();
      const socket = await connect({
        port,
        host: '127.0.0.1',
        attemptTimeoutMs: 300,
        retries: { retries: 5, minDelayMs: 20, maxDelayMs: 40 },
        retryOn: (err) => {
          if (err instanceof ConnectTimeoutError) timeouts.push(Date.now() - start);
          return true;
        },
        keepAlive: false,
      });
      expect(timeouts.length).toBeGreaterThanOrEqual(2);
      expect(timeouts[0]!).toBeGreaterThanOrEqual(300);
      expect(timeouts[0]!).toBeLessThan(900);
      expect(socket.remotePort).toBe(port);
      socket.destroy();
      (await srvReady).close();
    });
  });

  it('the overall deadline ends a connect that keeps timing out, and destroys the attempt in flight', async () => {
    await withNetns(async (ns) => {
      const port = await freePort();
      await ns.blackhole(port);
      const start = Date.now();
      const err = await connect({
        port,
        host: '127.0.0.1',
        timeoutMs: 1000,
        attemptTimeoutMs: 400,
        retries: 10,
        keepAlive: false,
      }).catch((e) => e);
      expect(err).toMatchObject({
        code: 'HALFOPEN_ERR_CONNECT_TIMEOUT',
        attempt: undefined,
        limitMs: 1000,
      });
      expect(Date.now() - start).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 50));
      expect(process.getActiveResourcesInfo().filter((r) => r === 'TCPWRAP')).toEqual([]);
    });
  });
});
