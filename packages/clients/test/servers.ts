import http from 'node:http';
import type net from 'node:net';

export interface IdleClosingServer {
  readonly server: http.Server;
  readonly port: number;
  /** Requests the server answered. */
  answered(): number;
  /** Connections it accepted. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * An HTTP server that closes a keep-alive connection idle for `idleMs` after its last response,
 * without announcing it (no `Keep-Alive: timeout=` header), as many load balancers and proxies
 * do. With `hint`, it announces `timeout=hint` seconds instead (as Node's own server does).
 */
export async function idleClosingServer(idleMs: number, hint?: number): Promise<IdleClosingServer> {
  let answered = 0;
  let connections = 0;
  const server = http.createServer((req, res) => {
    const socket = req.socket as net.Socket & { idleTimer?: NodeJS.Timeout };
    clearTimeout(socket.idleTimer);
    req.resume();
    req.on('end', () => {
      answered++;
      if (hint !== undefined) res.setHeader('Keep-Alive', `timeout=${hint}`);
      res.end('ok');
    });
    res.on('finish', () => {
      socket.idleTimer = setTimeout(() => socket.destroy(), idleMs);
    });
  });
  server.keepAliveTimeout = 0; // no hint and no close from Node's side: the timer above decides
  server.on('connection', (socket: net.Socket & { idleTimer?: NodeJS.Timeout }) => {
    connections++;
    socket.on('close', () => clearTimeout(socket.idleTimer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    answered: () => answered,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One GET; resolves with the status and whether the socket was reused, or the error. */
export function get(
  port: number,
  agent: http.Agent,
  path = '/',
): Promise<{ status?: number; error?: NodeJS.ErrnoException; reused: boolean }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
      res.on('error', (error) => resolve({ error, reused: req.reusedSocket }));
    });
    req.on('error', (error) => resolve({ error, reused: req.reusedSocket }));
  });
}

/**
 * `chains` sequences of `perChain` GETs each, every one `gapMs()` after the previous answer,
 * all through `agent`. Resolves with the failures (each an error code or message).
 */
export async function spaced(
  port: number,
  agent: http.Agent,
  chains: number,
  perChain: number,
  gapMs: () => number,
): Promise<{ failed: string[]; done: number }> {
  const failed: string[] = [];
  let done = 0;
  await Promise.all(
    Array.from({ length: chains }, async () => {
      for (let i = 0; i < perChain; i++) {
        const r = await get(port, agent);
        done++;
        if (r.error) failed.push(`${r.error.code ?? r.error.message} (reused ${r.reused})`);
        await new Promise((res) => setTimeout(res, gapMs()));
      }
    }),
  );
  return { failed, done };
}
