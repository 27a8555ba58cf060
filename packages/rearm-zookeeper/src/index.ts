import type { Socket } from 'node:net';
import { guardSocket } from '@halfopen/idle-timeout';
import type { OneShotWatchSource, WatchEvent } from '@halfopen/rearm';
import zookeeper from 'node-zookeeper-client';

/** The parts of a node-zookeeper-client Client this source uses. */
export type ZkClient = zookeeper.Client;

export interface ZooKeeperChildrenOptions {
  /** The parent znode whose children are watched, e.g. `/services/payments`. */
  path: string;
  /** `host:port[,host:port]`; used when no `createClient` is given. */
  connectionString?: string;
  /** Makes a new (not yet connected) client; called at start and after every session expiry or failed handshake. */
  createClient?: () => ZkClient;
  /** Session timeout asked of the server. Default 10000. */
  sessionTimeoutMs?: number;
  /**
   * Deadline for a session handshake; a client that has not connected by then is closed and a
   * new one is made at the next read (a server may accept a connection it never reads). Default 5000.
   */
  handshakeTimeoutMs?: number;
}

export interface ZooKeeperChildrenSource extends OneShotWatchSource<string[], bigint> {
  /** The client in use, if any. */
  readonly client: ZkClient | undefined;
  /** Clients made so far (1 + rebuilds after expiry or failed handshakes). */
  readonly clientsCreated: number;
  /** Closes the client; reads afterwards fail. */
  close(): void;
}

type Pending = (ev: WatchEvent) => void;

/**
 * A OneShotWatchSource for the children of one znode: each read is `getChildren(path, watcher)`,
 * which returns the children and arms the watch in the same server operation. The version is
 * the parent's pzxid (the zxid of its last child change: it only grows). Disconnection resolves
 * pending watches as lost (the view re-reads after reconnect); session expiry resolves them as
 * lost and the next read makes a new client. A missing parent reads as no children, watched with
 * `exists`.
 */
export function zookeeperChildren(options: ZooKeeperChildrenOptions): ZooKeeperChildrenSource {
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  const { path, connectionString, createClient } = options;
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new TypeError(`options.path must be an absolute znode path, got ${String(path)}`);
  if (createClient === undefined && typeof connectionString !== 'string') {
    throw new TypeError('options.connectionString (or options.createClient) is required');
  }
  if (createClient !== undefined && typeof createClient !== 'function')
    throw new TypeError('options.createClient must be a function');
  const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5_000;
  for (const [name, v] of [
    ['sessionTimeoutMs', sessionTimeout],
    ['handshakeTimeoutMs', handshakeTimeoutMs],
  ] as const) {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
      throw new RangeError(`options.${name} must be a finite number > 0, got ${String(v)}`);
  }
  const make =
    createClient ??
    (() =>
      zookeeper.createClient(connectionString!, { sessionTimeout, retries: 0, spinDelay: 200 }));

  let client: ZkClient | undefined;
  let connected: Promise<ZkClient> | undefined;
  let created = 0;
  let closed = false;
  const pending = new Set<Pending>();
  // Reads waiting for a reply, with the client they were sent through: node-zookeeper-client
  // never answers a request still queued when its session expires or it is closed.
  const inflight = new Set<{ client: ZkClient; fail: (err: Error) => void }>();
  let reconnectTimer: NodeJS.Timeout | undefined;
  const loseAll = (reason: 'disconnected' | 'expired') => {
    for (const res of pending) res({ kind: 'lost', reason });
    pending.clear();
  };
  const drop = (c: ZkClient, why: string) => {
    if (client !== c) return;
    client = undefined;
    connected = undefined;
    clearTimeout(reconnectTimer);
    c.close();
    for (const r of inflight) {
      if (r.client !== c) continue;
      inflight.delete(r);
      r.fail(new Error(`ZooKeeper client closed (${why}) before the read was answered`));
    }
  };

  const ensureClient = (): Promise<ZkClient> => {
    if (closed) return Promise.reject(new Error('zookeeper source closed'));
    if (connected) return connected;
    const c = make();
    created++;
    client = c;
    connected = new Promise<ZkClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        drop(c, 'handshake timed out');
        reject(new Error(`ZooKeeper session handshake not done within ${handshakeTimeoutMs} ms`));
      }, handshakeTimeoutMs);
      timer.unref();
      c.once('connected', () => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    // node-zookeeper-client pings when idle but never times out waiting for the reply, so a
    // server behind a black hole looks connected forever. Replies come every third of the
    // session timeout; a socket silent for two thirds of it is destroyed, and the client
    // reconnects (and learns whether its session expired meanwhile).
    c.on('connected', () => {
      const cm = (
        c as unknown as { connectionManager?: { socket?: Socket; sessionTimeout?: number } }
      ).connectionManager;
      if (cm?.socket)
        guardSocket(cm.socket, {
          readIdleMs: Math.max(300, Math.floor(((cm.sessionTimeout ?? sessionTimeout) * 2) / 3)),
        });
    });
    // A client that has not reconnected within the session timeout has lost its session (the
    // server expires it without heartbeats), but node-zookeeper-client only learns that once a
    // server answers its handshake, and a server may accept a connection and never answer it
    // (seen with ZooKeeper 3.8 while it restarts). Like Curator, treat it as expired then.
    c.on('disconnected', () => {
      loseAll('disconnected');
      if (client !== c) return;
      clearTimeout(reconnectTimer);
      const cm = (c as unknown as { connectionManager?: { sessionTimeout?: number } })
        .connectionManager;
      reconnectTimer = setTimeout(() => {
        loseAll('expired');
        drop(c, 'not reconnected within the session timeout');
      }, cm?.sessionTimeout ?? sessionTimeout);
      reconnectTimer.unref();
    });
    c.on('connected', () => clearTimeout(reconnectTimer));
    c.on('expired', () => {
      loseAll('expired');
      drop(c, 'session expired');
    });
    c.connect();
    return connected;
  };

  const arm = (): { next: Promise<WatchEvent>; watcher: () => void; fire: Pending } => {
    let fire!: Pending;
    const next = new Promise<WatchEvent>((res) => {
      fire = res;
    });
    pending.add(fire);
    return {
      next,
      fire,
      watcher: () => {
        if (pending.delete(fire)) fire({ kind: 'changed' });
      },
    };
  };

  const read = async (signal: AbortSignal) => {
    const c = await ensureClient();
    signal.throwIfAborted();
    const { next, watcher, fire } = arm();
    let request: { client: ZkClient; fail: (err: Error) => void } | undefined;
    try {
      return await new Promise<{ value: string[]; version: bigint; next: Promise<WatchEvent> }>(
        (resolve, reject) => {
          request = { client: c, fail: reject };
          inflight.add(request);
          c.getChildren(path, watcher, (err, children, stat) => {
            if (!err) {
              resolve({ value: [...children].sort(), version: stat.pzxid.readBigInt64BE(0), next });
              return;
            }
            if ((err as { getCode?: () => number }).getCode?.() !== zookeeper.Exception.NO_NODE) {
              reject(err);
              return;
            }
            // No parent yet: watch for it to appear; meanwhile there are no children.
            c.exists(path, watcher, (err2, stat2) => {
              if (err2) reject(err2);
              else if (stat2) reject(new Error(`${path} appeared during the read; reading again`));
              else resolve({ value: [], version: 0n, next });
            });
          });
        },
      );
    } catch (err) {
      pending.delete(fire); // the failed read armed nothing
      throw err;
    } finally {
      if (request) inflight.delete(request);
    }
  };

  return {
    read,
    compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    get client() {
      return client;
    },
    get clientsCreated() {
      return created;
    },
    close() {
      closed = true;
      loseAll('disconnected');
      if (client) drop(client, 'source closed');
    },
  };
}
