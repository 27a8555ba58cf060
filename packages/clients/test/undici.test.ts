import http from 'node:http';
import type net from 'node:net';
import { Agent, Client, interceptors, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { undiciConnector } from '../src/index.js';

const cleanups: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, nth: number) => void,
): Promise<string> {
  const counts = new WeakMap<net.Socket, number>();
  const srv = http.createServer((req, res) => {
    const nth = (counts.get(req.socket) ?? 0) + 1;
    counts.set(req.socket, nth);
    handler(req, res, nth);
  });
  srv.keepAliveTimeout = 0;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
}

describe('undiciConnector', () => {
  it('refuses unknown options and maxAgeMs, naming them', () => {
    expect(() => undiciConnector({ bogus: 1 } as never)).toThrow(/options\.bogus/);
    expect(() => undiciConnector({ maxAgeMs: 1000 })).toThrow(/options\.maxAgeMs/);
    expect(() => undiciConnector({ connectTimeoutMs: 2 ** 31 })).toThrow(
      /options\.connectTimeoutMs/,
    );
    expect(() => undiciConnector({ tls: 'x' as never })).toThrow(/options\.tls/);
  });

  it('dials every undici socket, counted', async () => {
    const origin = await server((_req, res) => res.end('ok'));
    const connect = undiciConnector();
    const client = new Client(origin, { connect });
    cleanups.push(() => client.close());
    for (let i = 0; i < 3; i++) {
      const r = await request(origin, { dispatcher: client });
      expect(await r.body.text()).toBe('ok');
    }
    expect(connect.stats()).toMatchObject({ created: 1, open: 1, connectFailed: 0 });
  });

  it('counts and publishes a failed connect', async () => {
    const origin = await server((_req, res) => res.end('ok'));
    cleanups.pop()?.(); // closed: the port refuses
    await new Promise((r) => setTimeout(r, 20));
    const connect = undiciConnector();
    const agent = new Agent({ connect });
    cleanups.push(() => agent.close());
    await expect(request(origin, { dispatcher: agent })).rejects.toThrow(/ECONNREFUSED/);
    expect(connect.stats().connectFailed).toBe(1);
  });

  it("with its retry options, sends once more a GET cut on a reused socket (undici's own retry interceptor)", async () => {
    const origin = await server((_req, res, nth) =>
      nth === 1 ? res.end('ok') : res.socket?.destroy(),
    );
    const connect = undiciConnector();
    const agent = new Client(origin, { connect }).compose(interceptors.retry(connect.retry));
    cleanups.push(() => agent.close());
    await (await request(origin, { dispatcher: agent })).body.text();
    const second = await request(origin, { dispatcher: agent });
    expect(await second.body.text()).toBe('ok');
    expect(connect.stats()).toMatchObject({ created: 2, retried: 1 });
  });

  it('never retries a POST with a body', async () => {
    const origin = await server((req, res, nth) => {
      req.resume();
      if (nth === 1) res.end('ok');
      else res.socket?.destroy();
    });
    const connect = undiciConnector();
    const agent = new Client(origin, { connect }).compose(interceptors.retry(connect.retry));
    cleanups.push(() => agent.close());
    await (await request(origin, { dispatcher: agent, method: 'POST', body: 'a' })).body.text();
    await expect(
      request(origin, { dispatcher: agent, method: 'POST', body: 'b' }),
    ).rejects.toThrow();
    expect(connect.stats().retried).toBe(0);
  });
});
