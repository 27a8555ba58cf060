import diagnostics from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import net from 'node:net';
import { rearm } from '@halfopen/rearm';
import { assertNoLeaks, leakSnapshot } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
import { ZooKeeperSourceError, zookeeperChildren } from '../src/index.js';
import { fakeSource } from './fixtures/fake-client.js';

// Regression tests for issue 13 (finding 4 for rearm-zookeeper, and its options). Each failed
// on the code before the fix, as its comment says.

/** `p`'s outcome, or 'pending' if it has not settled within `ms` (real time). */
function outcome(p: Promise<unknown>, ms = 1000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    new Promise((r) => {
      timer = setTimeout(() => r('pending'), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A loopback port nobody listens on: connecting is refused (RST). */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('rearm-zookeeper with an unreachable server', () => {
  // Before: the read waited for the 5 s handshake deadline and said only that; with a
  // readTimeoutMs the view reported "aborted due to timeout"; ready never settled.
  it('ready rejects by staleAfterMs, naming the refused connection (address, ECONNREFUSED)', async () => {
    const before = leakSnapshot();
    const port = await refusedPort();
    const source = zookeeperChildren({
      path: '/services/payments',
      connectionString: `127.0.0.1:${port}`,
      handshakeTimeoutMs: 60_000,
    });
    const reported: Error[] = [];
    const on = (m: unknown) => reported.push((m as { error: Error }).error);
    diagnostics.subscribe('halfopen:rearm:error', on);
    const view = rearm(source, {
      staleAfterMs: 500,
      readTimeoutMs: 400,
      retry: { minDelayMs: 20, maxDelayMs: 100 },
    });
    try {
      const got = await outcome(view.ready, 5000);
      expect(got).toMatchObject({ code: 'HALFOPEN_ERR_REARM_NOT_READY' });
      const message = (got as Error).message;
      expect(message).toContain(`127.0.0.1:${port}`);
      expect(message).toContain('ECONNREFUSED');
      expect(message).not.toMatch(/aborted due to timeout/);
      expect(reported.length).toBeGreaterThan(0);
      const first = reported[0]!.cause as ZooKeeperSourceError;
      expect(first).toBeInstanceOf(ZooKeeperSourceError);
      expect(first.code).toBe('HALFOPEN_ERR_REARM_ZOOKEEPER_CONNECT');
      expect(first.cause).toMatchObject({ code: 'ECONNREFUSED', port });
    } finally {
      diagnostics.unsubscribe('halfopen:rearm:error', on);
      view.close();
      source.close();
    }
    // The client's reconnect loop stops after close (one spin delay of 200 ms at most).
    await assertNoLeaks(before, 400);
  });
});

describe('rearm-zookeeper closes and aborts', () => {
  const muteSource = () => fakeSource('never');

  // Before: a read waiting for the handshake stayed pending after close() (until the 5 s deadline).
  it('close() rejects a read still waiting for its session with HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED', async () => {
    const { made, source } = muteSource();
    const read = source.read(new AbortController().signal);
    source.close();
    expect(await outcome(read)).toMatchObject({ code: 'HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED' });
    expect(made[0]!.closed).toBe(true);
    await expect(source.read(new AbortController().signal)).rejects.toMatchObject({
      code: 'HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED',
    });
  });

  // Before: the read's signal was only checked after the session was made.
  it('an aborted signal rejects the read at once with its reason and leaves no listener', async () => {
    const { source } = muteSource();
    const ac = new AbortController();
    const read = source.read(ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    const reason = new Error('view closing');
    ac.abort(reason);
    expect(await outcome(read)).toBe(reason);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    source.close();
  });

  it('a createClient that throws or returns garbage fails the read with a coded error', async () => {
    for (const createClient of [
      () => {
        throw new Error('no client today');
      },
      () => 42,
      () => Promise.reject(new Error('async factory')),
    ]) {
      const source = zookeeperChildren({ path: '/s', createClient: createClient as never });
      await expect(source.read(new AbortController().signal)).rejects.toMatchObject({
        code: 'HALFOPEN_ERR_REARM_ZOOKEEPER_BAD_CLIENT',
      });
      source.close();
    }
  });
});

describe('rearm-zookeeper options', () => {
  // Before: unknown keys were ignored and 2^31 ms was accepted (sent as a 32-bit integer).
  it('refuses unknown keys and session timeouts past 2^31-1 ms, naming them', () => {
    expect(() =>
      zookeeperChildren({ path: '/s', connectionString: 'x:1', sessionTimeoutMS: 5 } as never),
    ).toThrow(
      /options\.sessionTimeoutMS is not an option \(did you mean options\.sessionTimeoutMs\?\)/,
    );
    expect(() =>
      zookeeperChildren({ path: '/s', connectionString: 'x:1', sessionTimeoutMs: 2 ** 31 }),
    ).toThrow(/options\.sessionTimeoutMs must be milliseconds within 1\.\.2147483647/);
    expect(() => zookeeperChildren(undefined as never)).toThrow(/options\.path/);
  });
});
