import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { countTcpStates, waitFor, withNetns } from '../src/index.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );
}
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s)).once('error', reject);
  });
}

describe('withNetns', () => {
  it('runs the body in its own namespace with loopback up, invisible from outside', async () => {
    let inside = 0;
    const server = net.createServer();
    await withNetns(async (ns) => {
      inside = await listen(server);
      expect(countTcpStates(inside, { side: 'local' }).LISTEN).toBe(1);
      expect(await ns.exec('ip', ['-o', 'link', 'show', 'lo'])).toMatch(/UP/);
    });
    // Back home: the listener lives in the namespace, not here.
    expect(countTcpStates(inside, { side: 'local' }).LISTEN).toBe(0);
    await expect(connect(inside)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    server.close();
  });

  it('a dropped RST leaves the server side ESTABLISHED; without the rule it is reset', async () => {
    await withNetns(async (ns) => {
      const serverSockets: net.Socket[] = [];
      const errors: string[] = [];
      const server = net.createServer((s) => {
        serverSockets.push(s);
        s.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
      });
      const port = await listen(server);

      const plain = await connect(port);
      await waitFor(() => serverSockets.length === 1, 'accept');
      plain.resetAndDestroy();
      await waitFor(() => errors.includes('ECONNRESET'), 'the reset to arrive');

      const rule = await ns.dropRst(port);
      const probe = await connect(port);
      await waitFor(() => serverSockets.length === 2, 'accept');
      probe.resetAndDestroy();
      await new Promise((r) => setTimeout(r, 300));
      expect(errors).toEqual(['ECONNRESET']);
      expect(serverSockets[1]!.destroyed).toBe(false);
      expect(countTcpStates(port, { side: 'local' }).ESTABLISHED).toBe(1);

      await ns.remove(rule);
      expect(await ns.rules()).not.toMatch(/DROP/);
      for (const s of serverSockets) s.destroy();
      server.close();
    });
  });

  it('a black hole makes connects hang until the rule is removed', async () => {
    await withNetns(async (ns) => {
      const server = net.createServer((s) => s.end());
      const port = await listen(server);
      const rules = await ns.blackhole(port);
      const hanging = net.connect(port, '127.0.0.1');
      let connected = false;
      hanging.on('connect', () => {
        connected = true;
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(connected).toBe(false);
      hanging.destroy();

      await ns.remove(rules);
      const ok = await connect(port);
      ok.destroy();
      server.close();
    });
  });

  it('a black hole cuts an established connection without either side noticing', async () => {
    await withNetns(async (ns) => {
      const received: Buffer[] = [];
      const server = net.createServer((s) => s.on('data', (d: Buffer) => received.push(d)));
      const port = await listen(server);
      const client = await connect(port);
      client.write('before');
      await waitFor(() => received.length === 1, 'first bytes');
      await ns.blackhole(port);
      client.write('after');
      await new Promise((r) => setTimeout(r, 400));
      expect(Buffer.concat(received).toString()).toBe('before');
      expect(client.destroyed).toBe(false);
      client.destroy();
      server.close();
    });
  });
});
