import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';

const onPath = (bin: string) =>
  (process.env.PATH ?? '/usr/bin:/bin')
    .split(':')
    .concat('/usr/bin', '/usr/sbin')
    .some((d) => d && existsSync(join(d, bin)));

/** What starting a real Redis needs and this machine lacks; empty when all is there. */
export function missingForRedis(): string[] {
  return onPath('redis-server') ? [] : ['`redis-server` on PATH (Debian package redis-server)'];
}

export interface RedisOptions {
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
  /** Redis `timeout`: close a client idle this many seconds (0 = never). Default 0. */
  idleTimeoutSec?: number;
  /** More `redis-server` directives, e.g. `{ 'tcp-keepalive': '0' }`. */
  config?: Record<string, string>;
  /** How long to wait for PING to answer. Default 15000. */
  startTimeoutMs?: number;
}

export interface RedisServer {
  readonly port: number;
  readonly host: '127.0.0.1';
  readonly dir: string;
  /** Sends one inline command (e.g. `PING`, `CONFIG SET timeout 2`); resolves with the raw reply. */
  command(line: string, timeoutMs?: number): Promise<string>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** The server's log so far. */
  log(): string;
}

/** Sends one inline command over a fresh connection and resolves with the first reply line(s). */
export function redisCommand(port: number, line: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (d: string) => {
      out += d;
      if (out.endsWith('\r\n')) done();
    });
    socket.on('end', done);
    socket.on('error', done);
  });
}

/**
 * Starts a real Redis (Debian's `redis-server`, no persistence) on a free port in a temporary
 * directory, and resolves once it answers PING. Started inside `withNetns`'s body, the server
 * lives in that namespace (a child inherits the namespace of the thread that spawns it), so a
 * fault test can black-hole its port.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const missing = missingForRedis();
  if (missing.length > 0)
    throw new Error(`startRedis cannot run here; missing: ${missing.join('; ')}`);
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'halfopen-redis-'));
  const logFile = join(dir, 'redis.log');
  const config: Record<string, string> = {
    port: String(port),
    bind: '127.0.0.1',
    dir,
    logfile: logFile,
    save: '""',
    appendonly: 'no',
    daemonize: 'no',
    timeout: String(options.idleTimeoutSec ?? 0),
    ...options.config,
  };
  const args = Object.entries(config).flatMap(([k, v]) => [`--${k}`, v === '""' ? '' : v]);
  const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const readLog = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`redis-server exited during start; log:\n${readLog()}`);
        return (await redisCommand(port, 'PING', 500)).startsWith('+PONG');
      },
      `redis-server on 127.0.0.1:${port} to answer PING`,
      { timeoutMs: options.startTimeoutMs ?? 15_000, intervalMs: 50 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    host: '127.0.0.1',
    dir,
    command: (line, timeoutMs) => redisCommand(port, line, timeoutMs),
    stop,
    log: readLog,
  };
}
