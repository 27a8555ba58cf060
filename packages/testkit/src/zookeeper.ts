import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';

const DEFAULT_JAR = '/usr/share/java/zookeeper.jar';

/** What starting a real ZooKeeper needs and this machine lacks; empty when all is there. */
export function missingForZooKeeper(jar = DEFAULT_JAR): string[] {
  const missing: string[] = [];
  const javaOnPath = (process.env.PATH ?? '')
    .split(':')
    .some((d) => d && existsSync(join(d, 'java')));
  if (!javaOnPath) missing.push('`java` on PATH (a JRE, e.g. Debian default-jre-headless)');
  if (!existsSync(jar)) missing.push(`${jar} (Debian package zookeeper)`);
  return missing;
}

export interface ZooKeeperOptions {
  /** Client port; default a free one on 127.0.0.1. */
  port?: number;
  /** Server tick in ms; session timeouts are bounded to 2..20 ticks. Default 200. */
  tickMs?: number;
  /** How long to wait for `ruok` to answer `imok`. Default 30000. */
  startTimeoutMs?: number;
  jar?: string;
}

export interface ZooKeeperServer {
  readonly port: number;
  /** `127.0.0.1:port`, for clients. */
  readonly connectString: string;
  readonly dataDir: string;
  /** Sends the `ruok` four-letter word; resolves with the answer ('imok' when serving). */
  ruok(timeoutMs?: number): Promise<string>;
  /** Stops the server (data kept), then starts it again on the same port and data. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
  /** The server's log so far (for failure messages). */
  log(): string;
}

/** Sends a ZooKeeper four-letter word and resolves with the whole answer. */
export function fourLetterWord(port: number, word: string, timeoutMs = 2000): Promise<string> {
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
    socket.on('connect', () => socket.write(word));
    socket.on('data', (d: string) => {
      out += d;
    });
    socket.on('end', done);
    socket.on('error', done);
  });
}

/**
 * Starts a real ZooKeeper (the Debian package's jar, run with java directly) on a free
 * port with a temporary data directory, and resolves once it serves requests (`srvr` answers with its version).
 */
export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperServer> {
  const jar = options.jar ?? DEFAULT_JAR;
  const missing = missingForZooKeeper(jar);
  if (missing.length > 0)
    throw new Error(`startZooKeeper cannot run here; missing: ${missing.join('; ')}`);
  const port = options.port ?? (await freePort());
  const tickMs = options.tickMs ?? 200;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const dir = mkdtempSync(join(tmpdir(), 'halfopen-zk-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  writeFileSync(
    join(dir, 'zoo.cfg'),
    [
      `tickTime=${tickMs}`,
      `dataDir=${dataDir}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr,mntr,cons',
      `minSessionTimeout=${2 * tickMs}`,
      `maxSessionTimeout=${20 * tickMs}`,
      'maxClientCnxns=0',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'log4j.properties'), 'log4j.rootLogger=WARN, CONSOLE\n');

  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const launch = async () => {
    const fd = openSync(logFile, 'a');
    child = spawn(
      'java',
      [
        '-Xmx256m',
        '-cp',
        `${jar}:${dir}`,
        'org.apache.zookeeper.server.ZooKeeperServerMain',
        join(dir, 'zoo.cfg'),
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    const started = child;
    let exited = false;
    started.once('exit', () => {
      exited = true;
    });
    try {
      await waitFor(
        async () => {
          if (exited) throw new Error(`ZooKeeper exited during start; log:\n${readLog()}`);
          // `ruok` answers imok before the server serves; `srvr` reports a version only then.
          return /Zookeeper version/.test(await fourLetterWord(port, 'srvr', 500));
        },
        `ZooKeeper on 127.0.0.1:${port} to serve (srvr)`,
        { timeoutMs: startTimeoutMs, intervalMs: 100 },
      );
    } catch (err) {
      started.kill('SIGKILL');
      throw err;
    }
  };
  const halt = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const readLog = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  await launch();
  return {
    port,
    connectString: `127.0.0.1:${port}`,
    dataDir,
    ruok: (timeoutMs) => fourLetterWord(port, 'ruok', timeoutMs),
    restart: async ({ downMs = 0 } = {}) => {
      await halt();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: async () => {
      await halt();
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
    log: readLog,
  };
}
