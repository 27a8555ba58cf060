import type { Socket } from 'node:net';
import {
  callUser,
  checkOptions,
  describe,
  fn,
  Lifecycle,
  type LongTimer,
  ms,
} from '@halfopen/internal';
import { guardSocket } from '@halfopen/idle-timeout';
import type { OneShotWatchSource, WatchEvent } from '@halfopen/rearm';
import zookeeper from 'node-zookeeper-client';
import { ZooKeeperSourceError, type ZooKeeperSourceErrorCode } from './errors.js';

export { ZooKeeperSourceError, type ZooKeeperSourceErrorCode } from './errors.js';

/**
 * The parts of a node-zookeeper-client `Client` this source uses; a real `Client` satisfies it.
 * Written out here so that the package's types need no `@types/node-zookeeper-client`.
 */
export interface ZkClient {
  connect(): void;
  close(): void;
  once(event: 'connected', listener: () => void): unknown;
  on(event: 'connected' | 'disconnected' | 'expired', listener: () => void): unknown;
  getChildren(
    path: string,
    watcher: (event: unknown) => void,
    callback: (error: Error | null, children: string[], stat: { pzxid: Buffer }) => void,
  ): void;
  exists(
    path: string,
    watcher: (event: unknown) => void,
    callback: (error: Error | null, stat: unknown) => void,
  ): void;
}

export interface ZooKeeperChildrenOptions {
  /** The parent znode whose children are watched, e.g. `/services/payments`. Required. */
  path: string;
  /** `host:port[,host:port]`; required when no `createClient` is given. Default: none. */
  connectionString?: string;
  /**
   * Makes a new (not yet connected) client; called at start and after every session expiry or
   * failed handshake. Default: `zookeeper.createClient(connectionString, { sessionTimeout:
   * sessionTimeoutMs, retries: 0, spinDelay: 200 })`.
   */
  createClient?: () => ZkClient;
  /** Session timeout asked of the server (it may cap it); an integer. Default: 10000. */
  sessionTimeoutMs?: number;
  /**
   * Deadline for a session handshake; a client that has not connected by then is closed and a
   * new one is made at the next read (a server may accept a connection it never reads). Default: 5000.
   */
  handshakeTimeoutMs?: number;
}

export interface ZooKeeperChildrenSource extends OneShotWatchSource<string[], bigint> {
  /** The client in use, if any. */
  readonly client: ZkClient | undefined;
  /** Clients made so far (1 + rebuilds after expiry or failed handshakes). */
  readonly clientsCreated: number;
  /** Closes the client; pending reads reject with HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED, as do later ones. */
  close(): void;
}

type Pending = (ev: WatchEvent) => void;
type Result = { value: string[]; version: bigint; next: Promise<WatchEvent> };

interface ConnectionManager {
  socket?: Socket;
  sessionTimeout?: number;
  servers?: Array<{ host: string; port: number }>;
  onSocketError?: (error: unknown) => void;
}

const KEYS = ['path', 'connectionString', 'createClient', 'sessionTimeoutMs', 'handshakeTimeoutMs'];
const CLIENT_METHODS = ['connect', 'close', 'getChildren', 'exists', 'on', 'once'];

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : describe(error);
}

/**
 * A OneShotWatchSource for the children of one znode: each read is `getChildren(path, watcher)`,
 * which returns the children and arms the watch in the same server operation. The version is
 * the parent's pzxid (the zxid of its last child change: it only grows). Disconnection resolves
 * pending watches as lost (the view re-reads after reconnect); session expiry resolves them as
 * lost and the next read makes a new client. A missing parent reads as no children, watched with
 * `exists`.
 */
export function zookeeperChildren(options: ZooKeeperChildrenOptions): ZooKeeperChildrenSource {
  const o = checkOptions(options, KEYS);
  const { path, connectionString } = o;
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new TypeError(`options.path must be an absolute znode path, got ${describe(path)}`);
  const createClient = fn(o.createClient, 'options.createClient');
  if (createClient === undefined && typeof connectionString !== 'string') {
    throw new TypeError(
      `options.connectionString (or options.createClient) is required, got ${describe(connectionString)}`,
    );
  }
  if (connectionString !== undefined && typeof connectionString !== 'string')
    throw new TypeError(
      `options.connectionString must be a string, got ${describe(connectionString)}`,
    );
  // The session timeout travels as a 32-bit integer in the handshake.
  const sessionTimeout = ms(o.sessionTimeoutMs, 'options.sessionTimeoutMs', {
    default: 10_000,
    min: 1,
    integer: true,
  });
  const handshakeTimeoutMs = ms(o.handshakeTimeoutMs, 'options.handshakeTimeoutMs', {
    default: 5_000,
    min: 1,
  });
  const make =
    createClient ??
    (() =>
      zookeeper.createClient(connectionString as string, {
        sessionTimeout,
        retries: 0,
        spinDelay: 200,
      }));

  const life = new Lifecycle();
  const fail = (code: ZooKeeperSourceErrorCode, message: string, cause?: unknown) =>
    new ZooKeeperSourceError(code, path, message, cause === undefined ? undefined : { cause });
  let client: ZkClient | undefined;
  let connected: Promise<ZkClient> | undefined;
  let created = 0;
  const pending = new Set<Pending>();
  // Reads waiting for a reply, with the client they were sent through: node-zookeeper-client
  // never answers a request still queued when its session expires or it is closed.
  const inflight = new Set<{ client: ZkClient; fail: (err: Error) => void }>();
  let reconnectTimer: LongTimer | undefined;
  let handshakeTimer: LongTimer | undefined;
  const loseAll = (reason: 'disconnected' | 'expired') => {
    for (const res of pending) res({ kind: 'lost', reason });
    pending.clear();
  };
  const drop = (c: ZkClient, why: string) => {
    if (client !== c) return;
    client = undefined;
    connected = undefined;
    reconnectTimer?.cancel();
    handshakeTimer?.cancel();
    try {
      c.close();
    } catch {
      // a client that cannot even close is dropped all the same
    }
    for (const r of inflight) {
      if (r.client !== c) continue;
      inflight.delete(r);
      r.fail(
        fail(
          'HALFOPEN_ERR_REARM_ZOOKEEPER_CLIENT_LOST',
          `ZooKeeper client closed (${why}) before the read was answered`,
        ),
      );
    }
  };
  life.onClose(() => {
    loseAll('disconnected');
    if (client) drop(client, 'source closed');
  });

  const newClient = (): ZkClient => {
    let thrown: unknown;
    let threw = false;
    const c = callUser(make, [], (e) => {
      threw = true;
      thrown = e;
    });
    if (threw)
      throw fail(
        'HALFOPEN_ERR_REARM_ZOOKEEPER_BAD_CLIENT',
        `createClient() threw: ${messageOf(thrown)}`,
        thrown,
      );
    if (
      c === null ||
      typeof c !== 'object' ||
      CLIENT_METHODS.some((m) => typeof (c as unknown as Record<string, unknown>)[m] !== 'function')
    ) {
      throw fail(
        'HALFOPEN_ERR_REARM_ZOOKEEPER_BAD_CLIENT',
        `createClient() must return a node-zookeeper-client Client, got ${describe(c)}`,
      );
    }
    return c;
  };

  const ensureClient = (): Promise<ZkClient> => {
    if (life.closed)
      return Promise.reject(fail('HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED', 'source closed'));
    if (connected) return connected;
    let c: ZkClient;
    try {
      c = newClient();
    } catch (error) {
      return Promise.reject(error);
    }
    created++;
    client = c;
    const cm = (c as unknown as { connectionManager?: ConnectionManager }).connectionManager;
    const servers =
      connectionString ?? cm?.servers?.map((s) => `${s.host}:${s.port}`).join(',') ?? 'ZooKeeper';
    let lastError: unknown;
    let refusals = 0;
    let handshaken = false;
    connected = new Promise<ZkClient>((resolve, reject) => {
      const give = (error: Error) => {
        drop(c, error.message);
        reject(error);
      };
      handshakeTimer = life.timeout(() => {
        const last = lastError === undefined ? '' : ` (last error: ${messageOf(lastError)})`;
        give(
          fail(
            'HALFOPEN_ERR_REARM_ZOOKEEPER_HANDSHAKE_TIMEOUT',
            `session handshake with ${servers} not done within ${handshakeTimeoutMs} ms${last}`,
            lastError,
          ),
        );
      }, handshakeTimeoutMs);
      // node-zookeeper-client swallows socket errors and retries the next server forever. Before
      // the first session, a refusal from every server fails the read at once, naming it
      // (`connect ECONNREFUSED 10.0.0.7:2181`); after it, the client's own reconnects and the
      // session timeout below decide.
      const onSocketError = cm?.onSocketError;
      if (cm && typeof onSocketError === 'function') {
        cm.onSocketError = function (this: ConnectionManager, error: unknown) {
          lastError = error;
          if (!handshaken && client === c && ++refusals >= (cm.servers?.length ?? 1)) {
            give(
              fail(
                'HALFOPEN_ERR_REARM_ZOOKEEPER_CONNECT',
                `could not connect to ${servers}: ${messageOf(error)}`,
                error,
              ),
            );
          }
          return onSocketError.call(this, error);
        };
      }
      c.once('connected', () => {
        handshaken = true;
        handshakeTimer?.cancel();
        resolve(c);
      });
    });
    connected.catch(() => {}); // a read awaiting it gets the rejection; nobody else must
    // node-zookeeper-client pings when idle but never times out waiting for the reply, so a
    // server behind a black hole looks connected forever. Replies come every third of the
    // session timeout; a socket silent for two thirds of it is destroyed, and the client
    // reconnects (and learns whether its session expired meanwhile).
    c.on('connected', () => {
      reconnectTimer?.cancel();
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
      reconnectTimer?.cancel();
      reconnectTimer = life.timeout(() => {
        loseAll('expired');
        drop(c, 'not reconnected within the session timeout');
      }, cm?.sessionTimeout ?? sessionTimeout);
    });
    c.on('expired', () => {
      loseAll('expired');
      drop(c, 'session expired');
    });
    try {
      c.connect();
    } catch (error) {
      drop(c, 'connect() threw');
      return Promise.reject(
        fail(
          'HALFOPEN_ERR_REARM_ZOOKEEPER_BAD_CLIENT',
          `connect() threw: ${messageOf(error)}`,
          error,
        ),
      );
    }
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

  /** One getChildren (or exists when the parent is missing) through `c`: arms the watch with the read. */
  const list = (
    c: ZkClient,
    request: { fail: (err: Error) => void },
    done: (r: Result) => void,
  ) => {
    const { next, watcher, fire } = arm();
    const failed = (err: unknown) => {
      const code = (err as { getCode?: () => number }).getCode?.();
      request.fail(
        fail('HALFOPEN_ERR_REARM_ZOOKEEPER_READ_FAILED', `read failed: ${messageOf(err)}`, err),
      );
      return code;
    };
    c.getChildren(path, watcher, (err, children, stat) => {
      if (!err) {
        done({ value: [...children].sort(), version: stat.pzxid.readBigInt64BE(0), next });
        return;
      }
      if ((err as { getCode?: () => number }).getCode?.() !== zookeeper.Exception.NO_NODE) {
        failed(err);
        return;
      }
      // No parent yet: watch for it to appear; meanwhile there are no children.
      c.exists(path, watcher, (err2, stat2) => {
        if (err2) failed(err2);
        else if (stat2)
          request.fail(
            fail(
              'HALFOPEN_ERR_REARM_ZOOKEEPER_READ_FAILED',
              `${path} appeared during the read; reading again`,
            ),
          );
        else done({ value: [], version: 0n, next });
      });
    });
    return fire;
  };

  const readNow = (signal: AbortSignal | undefined): Promise<Result> =>
    new Promise<Result>((resolve, reject) => {
      let settled = false;
      let request: { client: ZkClient; fail: (err: Error) => void } | undefined;
      let armed: Pending | undefined;
      const finish = (ok: boolean, then: () => void) => {
        if (settled) return;
        settled = true;
        release();
        signal?.removeEventListener('abort', onAbort);
        if (request) inflight.delete(request);
        if (!ok && armed) pending.delete(armed); // a failed read armed nothing anyone follows
        then();
      };
      const failRead = (err: unknown) => finish(false, () => reject(err));
      const onAbort = () => failRead(signal?.reason);
      if (signal?.aborted) return reject(signal.reason);
      const release = life.hold(failRead); // close() fails it with the CLOSED error
      signal?.addEventListener('abort', onAbort, { once: true });
      ensureClient().then((c) => {
        if (settled) return;
        request = { client: c, fail: failRead };
        inflight.add(request);
        try {
          armed = list(c, request, (r) => finish(true, () => resolve(r)));
        } catch (error) {
          failRead(
            fail(
              'HALFOPEN_ERR_REARM_ZOOKEEPER_READ_FAILED',
              `read failed: ${messageOf(error)}`,
              error,
            ),
          );
        }
      }, failRead);
    });

  const read = (signal: AbortSignal): Promise<Result> =>
    life.closed
      ? Promise.reject(fail('HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED', 'source closed'))
      : readNow(signal instanceof AbortSignal ? signal : undefined);

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
      life.close(fail('HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED', 'source closed'));
    },
  };
}
