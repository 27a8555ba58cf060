import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { assertNoLeaks, leakSnapshot } from '../src/index.js';

describe('assertNoLeaks', () => {
  it('names a server left listening, and passes once it is closed', async () => {
    const before = leakSnapshot();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await expect(assertNoLeaks(before)).rejects.toThrow(
      /resources left behind: TCPServerWrap: \d+ -> \d+/,
    );
    await new Promise((r) => server.close(r));
    await expect(assertNoLeaks(before)).resolves.toBeUndefined();
  });

  it('names a ref-ed timer left behind', async () => {
    const before = leakSnapshot();
    const t = setTimeout(() => {}, 10_000);
    await expect(assertNoLeaks(before)).rejects.toThrow(/Timeout/);
    clearTimeout(t);
    await expect(assertNoLeaks(before)).resolves.toBeUndefined();
  });
});
