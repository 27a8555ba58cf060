import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type GuardOptions, guardSocket, type IdleTimeoutError } from '../src/index.js';
import type { TcpInfo } from '../src/kernel.js';
import { FakeSocket } from './fixtures/fake-socket.js';

// Kernel write progress with a scripted kernel: the guard's reads of TCP_INFO and SIOCOUTQ go
// to `kernel` below, so the logic (when it reads, what counts as progress, what it reports)
// is tested with fake time. Real kernel TCP is in write-stall.fault.test.ts.

const kernel = vi.hoisted(() => ({
  available: true,
  info: undefined as TcpInfo | undefined | null,
  queue: 0,
  infoReads: 0,
  queueReads: 0,
}));
vi.mock('../src/kernel.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/kernel.js')>();
  return {
    ...real,
    kernelAvailable: () => kernel.available,
    readTcpInfo: () => {
      kernel.infoReads++;
      return kernel.info === undefined ? undefined : kernel.info && { ...kernel.info };
    },
    readSendQueue: () => {
      kernel.queueReads++;
      return kernel.queue;
    },
    snapshot: () => (kernel.info ? real.kernelView(kernel.info, kernel.queue) : undefined),
  };
});

const now = () => Date.now();
beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  Object.assign(kernel, { available: true, queue: 0, infoReads: 0, queueReads: 0 });
  kernel.info = {
    state: 'ESTABLISHED',
    bytesAcked: 0,
    unackedSegments: 0,
    notSentBytes: 0,
    peerWindow: 65535,
    probes: 0,
  };
});
afterEach(() => vi.useRealTimers());

function guarded(o: GuardOptions) {
  const socket = new FakeSocket();
  socket.on('error', () => {});
  const guard = guardSocket(socket.asSocket(), { now, resolutionMs: 10, ...o });
  return { socket, guard };
}

/** The application writes n bytes, the kernel takes them at once and the peer has not acked. */
function send(socket: FakeSocket, n: number): void {
  socket.write(n);
  socket.drain(n);
  kernel.queue += n;
  if (kernel.info) kernel.info.unackedSegments = 1;
}
/** The peer acknowledges n bytes. */
function ack(n: number): void {
  kernel.info!.bytesAcked! += n;
  kernel.queue = Math.max(0, kernel.queue - n);
  if (kernel.queue === 0) kernel.info!.unackedSegments = 0;
}

describe('kernel write progress', () => {
  it('reads the kernel only while bytes may be pending, and no SIOCOUTQ when TCP_INFO shows none', () => {
    const { socket, guard } = guarded({ writeStallMs: 1000 });
    vi.advanceTimersByTime(100);
    // One read on the first tick (what was written before guarding), then none while idle.
    expect([kernel.infoReads, kernel.queueReads]).toEqual([1, 0]);
    send(socket, 1000);
    vi.advanceTimersByTime(10);
    expect([kernel.infoReads, kernel.queueReads]).toEqual([2, 1]);
    ack(1000);
    vi.advanceTimersByTime(10);
    expect([kernel.infoReads, kernel.queueReads]).toEqual([3, 1]);
    vi.advanceTimersByTime(100);
    expect(kernel.infoReads).toBe(3); // everything acknowledged: back to no reads
    expect(guard.stats()).toMatchObject({ progress: 'kernel', writeWindowMs: 1000 });
    guard.dispose();
  });

  it('cuts a reader below the rate within writeStallMs plus one resolution, with no burst allowance', () => {
    // Node's view would stretch the window by (4 MiB / 2) / 10 kB/s = 210 s.
    const { socket } = guarded({
      writeStallMs: 500,
      minDrainBytesPerSec: 10_000,
      sendBufferBytes: 4 * 1024 * 1024,
    });
    send(socket, 1_000_000);
    for (let t = 0; t < 60 && !socket.destroyed; t++) {
      vi.advanceTimersByTime(10);
      if (t % 10 === 9) ack(500); // 5 kB/s
    }
    const err = socket.destroyError as IdleTimeoutError;
    expect(err).toMatchObject({
      code: 'HALFOPEN_ERR_WRITE_STALL',
      limitMs: 500,
      progress: 'kernel',
    });
    expect(err.elapsedMs).toBeLessThanOrEqual(510);
    expect(err.kernel).toMatchObject({ state: 'ESTABLISHED', peerWindow: 65535 });
    expect(err.pendingBytes).toBe(kernel.queue);
  });

  it('never cuts a reader at the rate, however far behind the writer is', () => {
    const { socket, guard } = guarded({ writeStallMs: 500, minDrainBytesPerSec: 10_000 });
    send(socket, 100_000_000);
    for (let t = 0; t < 1000; t++) {
      vi.advanceTimersByTime(10);
      if (t % 10 === 9) ack(1_100); // 11 kB/s
    }
    expect(socket.destroyed).toBe(false);
    guard.dispose();
  });

  it('names a zero window and its unanswered probes in the error', () => {
    const { socket } = guarded({ writeStallMs: 200 });
    send(socket, 50_000);
    kernel.info!.peerWindow = 0;
    kernel.info!.probes = 2;
    vi.advanceTimersByTime(220);
    const err = socket.destroyError as IdleTimeoutError;
    expect(err.message).toMatch(
      /; kernel: ESTABLISHED, peer advertises a zero window \(2 probes unanswered\), 0 B acknowledged, 50000 B in the kernel send queue/,
    );
  });

  // Regression (hostile review, L4): the guard started with the kernel's queue taken as empty
  // and Node's written count as seen, so a socket guarded after a write the peer never
  // acknowledged took the no-read path on every tick and its stall was never reported.
  it('reports a stall of bytes written before the socket was guarded', () => {
    const socket = new FakeSocket();
    socket.on('error', () => {});
    send(socket, 5000); // written, taken by the kernel, unacknowledged
    const guard = guardSocket(socket.asSocket(), { now, resolutionMs: 10, writeStallMs: 200 });
    vi.advanceTimersByTime(190);
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(30);
    expect(socket.destroyError).toMatchObject({
      code: 'HALFOPEN_ERR_WRITE_STALL',
      progress: 'kernel',
      pendingBytes: 5000,
    });
    expect(guard.disposed).toBe(true);
  });

  it("uses Node's view where TCP_INFO has no acknowledged-bytes count, and while connecting", () => {
    const connecting = guarded({ writeStallMs: 1000 });
    kernel.info = null; // still connecting: ask again later
    send(connecting.socket, 10);
    vi.advanceTimersByTime(10);
    expect(kernel.infoReads).toBe(1);
    vi.advanceTimersByTime(10);
    expect(kernel.infoReads).toBe(2);
    kernel.info = { state: 'ESTABLISHED' }; // an old kernel: no tcpi_bytes_acked
    vi.advanceTimersByTime(10);
    expect(connecting.guard.stats().progress).toBe('node');
    connecting.guard.dispose();
  });
});
