import { describe, expect, it } from 'vitest';
import { zookeeperChildren } from '../src/index.js';
import { fakeSource } from './fixtures/fake-client.js';

describe('zookeeperChildren options', () => {
  it.each([
    [{ path: 'services', connectionString: 'x:1' }, /options\.path must be an absolute znode path/],
    [{ path: '/s' }, /options\.connectionString \(or options\.createClient\) is required/],
    [{ path: '/s', createClient: 5 }, /options\.createClient must be a function/],
    [
      { path: '/s', connectionString: 'x:1', handshakeTimeoutMs: 0 },
      /options\.handshakeTimeoutMs must be milliseconds within 1\.\.2147483647, got 0/,
    ],
  ])('%o throws naming the option', (bad, msg) => {
    expect(() => zookeeperChildren(bad as never)).toThrow(msg);
  });

  it('a closed source fails reads without making a client', async () => {
    let made = 0;
    const source = zookeeperChildren({
      path: '/s',
      createClient: () => {
        made++;
        throw new Error('not reached');
      },
    });
    source.close();
    await expect(source.read(new AbortController().signal)).rejects.toThrow(/closed/);
    expect(made).toBe(0);
    expect(source.compare(2n, 10n)).toBeLessThan(0);
  });

  // A client that connects once, then loses its connection and never gets a handshake answer
  // again (a server that accepts and never replies), and never answers a request.
  const silentSource = () => fakeSource('immediate');

  it('a client not reconnected within the session timeout is replaced, failing its unanswered read', async () => {
    const { made, source } = silentSource();
    const read = source.read(new AbortController().signal);
    const outcome = read.then(
      () => 'answered',
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 20));
    made[0]!.emit('disconnected');
    await new Promise((r) => setTimeout(r, 100));
    expect(made[0]!.closed).toBe(false); // still within the session timeout
    expect(await outcome).toMatch(/not reconnected within the session timeout/);
    expect(made[0]!.closed).toBe(true);
    void source.read(new AbortController().signal).catch(() => {});
    expect(source.clientsCreated).toBe(2);
    source.close();
    expect(made[1]!.closed).toBe(true);
  });

  it('a client that reconnects in time is kept', async () => {
    const { made, source } = silentSource();
    void source.read(new AbortController().signal).catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    made[0]!.emit('disconnected');
    await new Promise((r) => setTimeout(r, 50));
    made[0]!.emit('connected');
    await new Promise((r) => setTimeout(r, 200));
    expect(made[0]!.closed).toBe(false);
    expect(source.clientsCreated).toBe(1);
    source.close();
  });
});
