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
