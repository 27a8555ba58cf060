import net from 'node:net';
import { support } from '@halfopen/sockopt';
import { afterEach, describe, expect, it } from 'vitest';
import { guardSocket } from '../src/index.js';
import { FakeSocket } from './fixtures/fake-socket.js';

// Which write progress a guard uses, and the kernel's view in stats(). The behaviour under
// real stalls (zero window, slow readers, a slow-read attack) is in write-stall.fault.test.ts.

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function pair(): Promise<{ client: net.Socket; server: net.Socket }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  cleanup.push(() => {
    client.destroy();
    server.destroy();
    return new Promise((r) => listener.close(r));
  });
  return { client, server };
}

describe('write progress', () => {
  it('is the kernel count of acknowledged bytes on a live TCP socket here, with no burst allowance', async () => {
    // This machine is linux-x64 with sockopt's binary: a kernel view is expected, not optional.
    expect(support().tcpInfo).toBe(true);
    const { server } = await pair();
    const guard = guardSocket(server, { writeStallMs: 3000, minDrainBytesPerSec: 4096 });
    cleanup.push(() => guard.dispose());
    const stats = guard.stats();
    expect(stats.progress).toBe('kernel');
    expect(stats.writeWindowMs).toBe(3000);
    expect(stats.kernel).toMatchObject({ state: 'ESTABLISHED', bytesAcked: 0, queuedBytes: 0 });
    expect(stats.kernel?.rttMs).toEqual(expect.any(Number));
    server.write('hello');
    await new Promise((r) => setTimeout(r, 50));
    expect(guard.stats().kernel?.bytesAcked).toBe(5);
  });

  it("is Node's view, with the burst allowance, on a socket the kernel cannot be asked about", () => {
    const socket = new FakeSocket(); // no file descriptor
    const guard = guardSocket(socket.asSocket(), {
      writeStallMs: 500,
      minDrainBytesPerSec: 65536,
      sendBufferBytes: 65536,
    });
    const stats = guard.stats();
    expect(stats.progress).toBe('node');
    expect(stats.kernel).toBeUndefined();
    expect(stats.writeWindowMs).toBe(1000); // 500 + (64 KiB / 2) / 64 KiB/s
    guard.dispose();
  });
});
