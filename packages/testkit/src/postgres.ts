import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';
import { freePort, waitFor } from './ports.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** What starting a real PostgreSQL needs and this machine lacks; empty when all is there. */
export function missingForPostgres(bin = PG_BIN): string[] {
  const missing: string[] = [];
  if (!existsSync(join(bin, 'postgres')) || !existsSync(join(bin, 'initdb')))
    missing.push(`${bin}/postgres and initdb (Debian package postgresql, version 15)`);
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    missing.push('the `postgres` user (Debian package postgresql creates it)');
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    missing.push('root (to run the server as the postgres user)');
  return missing;
}

export interface PostgresOptions {
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
  /** Server settings passed as `-c name=value`, e.g. `{ idle_session_timeout: '2s' }`. */
  settings?: Record<string, string>;
  /** How long to wait for pg_isready. Default 30000. */
  startTimeoutMs?: number;
  bin?: string;
}

export interface PostgresServer {
  readonly port: number;
  readonly host: '127.0.0.1';
  /** User with trust auth on 127.0.0.1 (no password). */
  readonly user: 'postgres';
  readonly database: 'postgres';
  readonly dataDir: string;
  /** Runs SQL through psql as the postgres user; resolves with its unaligned output. */
  psql(sql: string): Promise<string>;
  /** Stops the server (fast shutdown) and removes its data. */
  stop(): Promise<void>;
  /** The server's log so far. */
  log(): string;
}

/**
 * Starts a real PostgreSQL 15 (Debian's package, run as the `postgres` user since root cannot
 * run it): initdb into a temporary directory with trust auth, then `postgres` on a free port on
 * 127.0.0.1 with its Unix socket in that directory; resolves once pg_isready answers. Started
 * inside `withNetns`'s body, the server lives in that namespace.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = options.bin ?? PG_BIN;
  const missing = missingForPostgres(bin);
  if (missing.length > 0)
    throw new Error(`startPostgres cannot run here; missing: ${missing.join('; ')}`);
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'halfopen-pg-'));
  chownSync(dir, uid, gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const asPostgres = { uid, gid, cwd: dir, env: { PATH: `${bin}:/usr/bin:/bin`, LANG: 'C' } };
  await new Promise<void>((resolve, reject) => {
    const c = spawn(
      join(bin, 'initdb'),
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'],
      { ...asPostgres, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    c.stderr?.on('data', (d) => {
      err += d;
    });
    c.once('error', reject);
    c.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`initdb failed (${code}): ${err}`)),
    );
  });
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    fsync: 'off',
    max_connections: '200',
    ...options.settings,
  };
  const fd = openSync(logFile, 'a');
  chownSync(logFile, uid, gid);
  const child: ChildProcess = spawn(
    join(bin, 'postgres'),
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-k',
      dir,
      ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    { ...asPostgres, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
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
      child.kill('SIGINT'); // fast shutdown: active sessions are ended
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`postgres exited during start; log:\n${readLog()}`);
        try {
          await run(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-t', '1']);
          return true;
        } catch {
          return false;
        }
      },
      `postgres on 127.0.0.1:${port} to accept connections`,
      { timeoutMs: options.startTimeoutMs ?? 30_000, intervalMs: 100 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    host: '127.0.0.1',
    user: 'postgres',
    database: 'postgres',
    dataDir,
    psql: (sql) =>
      run(join(bin, 'psql'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-At',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        sql,
      ]),
    stop,
    log: readLog,
  };
}
