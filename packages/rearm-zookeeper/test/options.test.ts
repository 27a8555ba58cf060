import { describe, expect, it } from 'vitest';
import { zookeeperChildren } from '../src/index.js';

describe('zookeeperChildren options', () => {
  it.each([
    [{ path: 'services', connectionString: 'x:1' }, /options\.path must be an absolute znode path/],
    [{ path: '/s' }, /options\.connectionString \(or options\.createClient\) is required/],
    [{ path: '/s', createClient: 5 }, /options\.createClient must be a function/],
    [
      { path: '/s', connectionString: 'x:1', handshakeTimeoutMs: 0 },
      /options\.handshakeTimeoutMs must be a finite number > 0, got 0/,
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
});
