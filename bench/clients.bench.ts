// @halfopen/clients: requests/s through its http Agent vs Node's keep-alive agent, through the
// undici connector vs undici's own, and the idle-close race (a server closing idle keep-alive
// sockets at 1000 ms without a hint, requests 990-1010 ms apart) for each client side by side.
import http from 'node:http';
import type net from 'node:net';
import { Agent, undiciConnector } from '@halfopen/clients';
import { Agent as UndiciAgent, interceptors, request } from 'undici';
import type { Measurement, Scenario } from './harness.js';

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 4096, r));
  return (server.address() as net.AddressInfo).port;
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

function nodeGet(port: number, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
  });
}

async function undiciGet(
  url: string,
  dispatcher: UndiciAgent | ReturnType<UndiciAgent['compose']>,
) {
  const r = await request(url, { dispatcher });
  await r.body.text();
}

/**
 * Requests/s of each client, `concurrency` in flight, keep-alive, loopback. Rounds alternate
 * between the clients so each sees the same machine; the median round counts.
 */
async function throughput(
  clients: Array<[string, (port: number) => () => Promise<void>]>,
  concurrency = 8,
  rounds = 41,
  perRound = 1000,
): Promise<Measurement[]> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  const port = await listen(server);
  const runs = clients.map(([name, make]) => ({ name, one: make(port), rates: [] as number[] }));
  for (let round = -1; round < rounds; round++) {
    for (const c of runs) {
      let left = perRound;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left-- > 0) await c.one();
        }),
      );
      if (round >= 0) c.rates.push((perRound * 1000) / (performance.now() - t));
    }
  }
  await close(server);
  return runs.map((c) => {
    const sorted = c.rates.sort((a, b) => a - b);
    return {
      name: c.name,
      value: sorted[sorted.length >> 1]!,
      unit: `requests/s (${concurrency} in flight, median of ${rounds} rounds of ${perRound})`,
    };
  });
}

async function httpAgents(): Promise<Measurement[]> {
  const node = new http.Agent({ keepAlive: true });
  const ours = new Agent();
  const m = await throughput([
    ['http.Agent (keepAlive)', (port) => () => nodeGet(port, node)],
    ['@halfopen/clients Agent', (port) => () => nodeGet(port, ours)],
  ]);
  node.destroy();
  ours.destroy();
  return m;
}

async function undiciAgents(): Promise<Measurement[]> {
  const plain = new UndiciAgent();
  const connect = undiciConnector();
  const ours = new UndiciAgent({ connect }).compose(interceptors.retry(connect.retry));
  const bare = new UndiciAgent({ connect: undiciConnector() });
  const m = await throughput([
    ['undici Agent', (port) => () => undiciGet(`http://127.0.0.1:${port}/`, plain)],
    [
      'undici Agent + undiciConnector',
      (port) => () => undiciGet(`http://127.0.0.1:${port}/`, bare),
    ],
    [
      'undici Agent + undiciConnector + retry',
      (port) => () => undiciGet(`http://127.0.0.1:${port}/`, ours),
    ],
  ]);
  await plain.close();
  await ours.close();
  await bare.close();
  return m;
}

/** A server closing keep-alive sockets idle for `idleMs` after a response, with no hint. */
function idleClosing(idleMs: number): http.Server {
  const server = http.createServer((req, res) => {
    const socket = req.socket as net.Socket & { idle?: NodeJS.Timeout };
    clearTimeout(socket.idle);
    req.resume();
    res.on('finish', () => {
      socket.idle = setTimeout(() => socket.destroy(), idleMs);
    });
    res.end('ok');
  });
  server.keepAliveTimeout = 0;
  server.on('connection', (s: net.Socket & { idle?: NodeJS.Timeout }) =>
    s.on('close', () => clearTimeout(s.idle)),
  );
  return server;
}

const RACE_REQUESTS = 40;

/** Each client in its own sequence against its own idle-closing server, all at once. */
async function race(): Promise<Measurement[]> {
  const clients: Array<[string, () => { get(port: number): Promise<void>; close(): unknown }]> = [
    [
      'http.Agent (keepAlive)',
      () => {
        const a = new http.Agent({ keepAlive: true });
        return { get: (port) => nodeGet(port, a), close: () => a.destroy() };
      },
    ],
    [
      'undici Agent',
      () => {
        const a = new UndiciAgent();
        return { get: (port) => undiciGet(`http://127.0.0.1:${port}/`, a), close: () => a.close() };
      },
    ],
    [
      '@halfopen/clients Agent',
      () => {
        const a = new Agent();
        return { get: (port) => nodeGet(port, a), close: () => a.destroy() };
      },
    ],
    [
      'undici Agent + undiciConnector + retry',
      () => {
        const connect = undiciConnector();
        const a = new UndiciAgent({ connect }).compose(interceptors.retry(connect.retry));
        return { get: (port) => undiciGet(`http://127.0.0.1:${port}/`, a), close: () => a.close() };
      },
    ],
  ];
  const results = await Promise.all(
    clients.map(async ([name, make]) => {
      const server = idleClosing(1000);
      const port = await listen(server);
      const client = make();
      let failed = 0;
      for (let i = 0; i < RACE_REQUESTS; i++) {
        await client.get(port).catch(() => failed++);
        await new Promise((r) => setTimeout(r, 990 + Math.random() * 20));
      }
      await client.close();
      await close(server);
      return { name, failed };
    }),
  );
  return results.map(({ name, failed }) => ({
    name,
    value: RACE_REQUESTS - failed,
    unit: `of ${RACE_REQUESTS} requests succeeded (${failed} failed)`,
  }));
}

const scenarios: Scenario[] = [
  {
    name: 'clients: http requests/s through the Agent vs Node keep-alive agent, loopback',
    ours: '@halfopen/clients Agent',
    rival: 'http.Agent (keepAlive)',
    higherIsBetter: true,
    target: 0.95,
    run: httpAgents,
  },
  {
    // The target is the connector's; undici's retry interceptor (RetryHandler, undici's
    // code) wraps every request's handler and is measured beside it.
    name: "clients: requests/s through undici with the connector vs undici's own, loopback",
    ours: 'undici Agent + undiciConnector',
    rival: 'undici Agent',
    higherIsBetter: true,
    target: 0.95,
    run: undiciAgents,
  },
  {
    name: 'clients: server closes idle sockets at 1000 ms without a hint, requests 990-1010 ms apart',
    ours: '@halfopen/clients Agent',
    rival: 'http.Agent (keepAlive)',
    higherIsBetter: true,
    target: 1,
    run: race,
  },
];
export default scenarios;
