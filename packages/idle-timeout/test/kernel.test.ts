import { support } from '@halfopen/sockopt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { guardSocket } from '../src/index.js';
import { FakeSocket } from './fixtures/fake-socket.js';
import { loopbackPair } from './fixtures/pair.js';

// Which write progress a guard uses, and the kernel's view in stats(). The behaviour under
// real stalls (zero window, slow readers, a slow-read attack) is in write-stall.fault.test.ts.

describe('write progress', () => {
  it('is the kernel count of acknowledged bytes on a live TCP socket here, with no burst allowance', async () => {
    // This machine is linux-x64 with sockopt's binary: a kernel view is expected, not optional.
    expect(support().tcpInfo).toBe(true);
    const { server } = await loopbackPair();
    const guard = guardSocket(server, { writeStallMs: 3000, minDrainBytesPerSec: 4096 });
    onTestFinished(() => guard.dispose());
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
