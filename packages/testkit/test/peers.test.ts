import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectPeer, listenPeer, type Peer, type PeerServer, waitFor } from '../src/index.js';

const open: Array<Peer | PeerServer | net.Server | net.Socket> = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    if (o instanceof net.Socket) o.destroy();
    else if (o instanceof net.Server) o.close();
    else await o.close();
  }
});

async function echoServer(): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  open.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

describe('misbehaving peers', () => {
  it('a silent peer connects and then neither sends nor closes', async () => {
    const { port, sockets } = await echoServer();
    const peer = await connectPeer(port, { kind: 'silent' });
    open.push(peer);
    await waitFor(() => sockets.length === 1, 'accept');
    let got = 0;
    let ended = false;
    sockets[0]!.on('data', (d) => {
      got += d.length;
    });
    sockets[0]!.on('end', () => {
      ended = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toBe(0);
    expect(ended).toBe(false);
    expect(peer.socket.destroyed).toBe(false);
  });

  it('a non-reader lets the writer fill the kernel buffers until writes stop draining', async () => {
    const server = await listenPeer({ kind: 'non-reader' });
    open.push(server);
    const client = net.connect(server.port, '127.0.0.1');
    open.push(client);
    await new Promise((r) => client.once('connect', r));
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 1024; i++) client.write(chunk); // 64 MiB queued
    await new Promise((r) => setTimeout(r, 500));
    const written = client.bytesWritten - client.writableLength;
    await new Promise((r) => setTimeout(r, 500));
    // Nothing more drains once the peer's buffers are full.
    expect(client.bytesWritten - client.writableLength).toBe(written);
    expect(client.writableLength).toBeGreaterThan(32 * 1024 * 1024);
    expect(server.peers[0]!.bytesRead).toBe(0);
  });

  it('a slow reader consumes close to its stated rate', async () => {
    const server = await listenPeer({ kind: 'slow-reader', bytesPerSec: 100_000 });
    open.push(server);
    const client = net.connect(server.port, '127.0.0.1');
    open.push(client);
    await new Promise((r) => client.once('connect', r));
    client.write(Buffer.alloc(4 * 1024 * 1024));
    await waitFor(() => server.peers.length === 1, 'accept');
    const start = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    const rate = (server.peers[0]!.bytesRead * 1000) / (Date.now() - start);
    expect(rate).toBeGreaterThan(50_000);
    expect(rate).toBeLessThan(200_000);
  });

  it('a trickler sends its payload one byte per interval', async () => {
    const { port, sockets } = await echoServer();
    const peer = await connectPeer(port, {
      kind: 'trickler',
      intervalMs: 20,
      payload: Buffer.from('GET / HTTP/1.1\r\n'),
    });
    open.push(peer);
    await waitFor(() => sockets.length === 1, 'accept');
    const got: Buffer[] = [];
    sockets[0]!.on('data', (d: Buffer) => got.push(d));
    await waitFor(() => Buffer.concat(got).length === 16, 'the whole payload', { timeoutMs: 5000 });
    expect(Buffer.concat(got).toString()).toBe('GET / HTTP/1.1\r\n');
    expect(got.length).toBeGreaterThan(4); // it arrived in many small pieces
    expect(peer.bytesSent).toBe(16);
  });
});
