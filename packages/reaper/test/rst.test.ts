import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionMap } from '../src/index.js';

// Issue 13, finding 2: a peer that answers our FIN with RST during the close grace period.
// Before the fix the map removed its 'error' listener at reap, so the ECONNRESET that follows
// our end() was an uncaught exception that crashed the process.

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A server that reads and ignores what it gets. */
async function sink(): Promise<number> {
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.resume();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A server that answers a FIN with an RST (resetAndDestroy sets SO_LINGER 0 and closes). */
async function rstOnFin(): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => {});
    sock.on('end', () => sock.resetAndDestroy());
    sock.resume();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

const dial = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });

describe('a peer answering our FIN with RST', () => {
  it.each([
    ['evictOnClose (default)', true],
    ['evictOnClose: false', false],
  ])('does not crash the process during the grace period, %s', async (_, evictOnClose) => {
    const port = await rstOnFin();
    const map = new ConnectionMap<string, net.Socket>({ graceMs: 60_000, evictOnClose });
    const sock = await dial(port);
    map.set('backend', sock);
    const closed = new Promise<boolean>((r) => sock.once('close', r));
    map.delete('backend'); // end(): our FIN; the peer answers with RST
    // The map still listens for 'error' on the socket it is closing (the test adds none: an
    // unheard ECONNRESET would fail the run as an uncaught exception).
    expect(sock.listenerCount('error')).toBeGreaterThan(0);
    expect(await closed).toBe(true); // closed by the RST with an error, long before graceMs
    // Once destroyed, nothing of the map is left on the socket.
    expect(sock.listenerCount('error')).toBe(0);
    expect(sock.listenerCount('close')).toBe(0);
    await map.close();
  });
});

describe('a socket destroyed with an error in the tick it leaves the map', () => {
  it('keeps an error listener until close: the error does not crash the process', async () => {
    // destroy(err) sets destroyed and closed at once but emits 'error' on the next tick and
    // 'close' later. Before the fix the map took 'closed' to mean the events were over: delete()
    // removed its own listener and added no guard, so the error reached no listener (an uncaught
    // exception; the first expect below saw 0).
    const map = new ConnectionMap<string, net.Socket>();
    const sock = await dial(await sink());
    map.set('backend', sock);
    const errors: unknown[] = [];
    const closed = new Promise<boolean>((r) => sock.once('close', r));
    sock.destroy(new Error('boom'));
    map.delete('backend');
    expect(sock.listenerCount('error')).toBeGreaterThan(0);
    // Heard after the map's guard (which was first): it proves the error was emitted.
    const onError = (e: unknown) => errors.push(e);
    sock.on('error', onError);
    expect(await closed).toBe(true);
    expect(errors).toMatchObject([{ message: 'boom' }]);
    // Once closed, nothing of the map is left on the socket.
    sock.off('error', onError);
    expect(sock.listenerCount('error')).toBe(0);
    expect(sock.listenerCount('close')).toBe(0);
    await map.close();
  });
});
