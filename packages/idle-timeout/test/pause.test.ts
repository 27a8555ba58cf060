import type net from 'node:net';
import { waitFor } from '@halfopen/testkit';
import { describe, expect, it, onTestFinished } from 'vitest';
import { guardSocket, IdleTimeoutError, type SocketGuard } from '../src/index.js';
import { loopbackPair } from './fixtures/pair.js';

// Real loopback sockets with real timers (deadlines of a few hundred ms, bounds with slack).
// Regression (issue 13, finding 7): net.Socket#pause() stops the application reading at once,
// but the handle keeps reading from the kernel until the readable buffer is full. The guard
// used to look at the handle only, so a paused socket with little input looked like a reading
// one: readIdleMs fired on it and pausedMaxMs never did.

describe('a socket paused with pause()', () => {
  it('is reported as not reading at once', async () => {
    const { server } = await loopbackPair();
    const guard: SocketGuard = guardSocket(server, { readIdleMs: 5000, resolutionMs: 20 });
    onTestFinished(() => guard.dispose());
    server.on('data', () => {});
    expect(guard.stats().reading).toBe(true);
    server.pause();
    expect(guard.stats().reading).toBe(false);
    server.resume();
    expect(guard.stats().reading).toBe(true);
  });

  it('is not cut by readIdleMs while paused, however long', async () => {
    const { server } = await loopbackPair();
    server.pause();
    const guard = guardSocket(server, { readIdleMs: 150, resolutionMs: 20 });
    onTestFinished(() => guard.dispose());
    await new Promise((r) => setTimeout(r, 700));
    expect(server.destroyed).toBe(false);
    expect(guard.stats().destroyedBy).toBeUndefined();
    // Reading again, the idle window runs and cuts the silent peer.
    server.resume();
    await waitFor(() => server.destroyed, 'read-idle after resume', { timeoutMs: 3000 });
    expect(guard.stats().destroyedBy?.code).toBe('HALFOPEN_ERR_READ_IDLE');
  });

  it('is cut by pausedMaxMs after a small input, long before the buffer fills', async () => {
    const { client, server } = await loopbackPair();
    const errors: unknown[] = [];
    server.on('error', (e) => errors.push(e));
    server.on('data', () => {});
    const guard = guardSocket(server, { pausedMaxMs: 200, resolutionMs: 20 });
    onTestFinished(() => guard.dispose());
    client.write('a few bytes');
    await waitFor(() => server.bytesRead > 0, 'the input');
    server.pause();
    const at = Date.now();
    await waitFor(() => server.destroyed, 'the paused cap', { timeoutMs: 3000 });
    expect(Date.now() - at).toBeGreaterThanOrEqual(150);
    await waitFor(() => errors.length > 0, 'the error event');
    expect(errors[0]).toBeInstanceOf(IdleTimeoutError);
    expect(errors[0]).toMatchObject({ code: 'HALFOPEN_ERR_PAUSED_TOO_LONG', limitMs: 200 });
  });
});

// Regression (hostile review, H3): async iteration and a 'readable' listener set
// readableFlowing to false for the socket's whole life while it reads normally. The guard took
// `flowing === false` for a pause, so such a reader counted as paused from the start:
// pausedMaxMs cut it while data flowed, and readIdleMs (which does not run while paused) never
// cut it when its peer went silent. Both tests below fail on that code.
const readers: Array<[string, (socket: net.Socket, got: Buffer[]) => Promise<unknown>]> = [
  [
    'a for await reader',
    async (socket, got) => {
      for await (const chunk of socket) got.push(chunk as Buffer);
    },
  ],
  [
    "a 'readable' listener reader",
    (socket, got) => {
      socket.on('readable', () => {
        for (let c = socket.read(); c !== null; c = socket.read()) got.push(c);
      });
      return new Promise((r) => socket.on('close', r));
    },
  ],
];

describe.each(readers)('%s', (_, read) => {
  it('is reading, and not cut by pausedMaxMs while data flows', async () => {
    const { client, server } = await loopbackPair();
    const got: Buffer[] = [];
    const done = read(server, got).catch(() => {});
    const guard = guardSocket(server, { pausedMaxMs: 150, resolutionMs: 20 });
    onTestFinished(() => guard.dispose());
    for (let i = 0; i < 12; i++) {
      client.write('x');
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitFor(() => got.length > 0, 'the reader got data');
    expect(guard.stats()).toMatchObject({ reading: true, destroyedBy: undefined });
    expect(server.destroyed).toBe(false);
    client.end();
    await done;
  });

  it('is cut by readIdleMs when the peer goes silent', async () => {
    const { client, server } = await loopbackPair();
    const got: Buffer[] = [];
    const done = read(server, got).catch(() => {});
    const guard = guardSocket(server, { readIdleMs: 200, resolutionMs: 20 });
    onTestFinished(() => guard.dispose());
    client.write('hello');
    await waitFor(() => got.length > 0, 'the reader got data');
    await waitFor(() => server.destroyed, 'read-idle on the silent peer', { timeoutMs: 3000 });
    expect(guard.stats().destroyedBy?.code).toBe('HALFOPEN_ERR_READ_IDLE');
    await done;
  });
});
