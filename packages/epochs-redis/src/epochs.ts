import { createHash } from 'node:crypto';
import {
  callUser,
  callUserAsync,
  checkOptions,
  count,
  describe,
  fn,
  Lifecycle,
  ms,
  publish,
  text,
} from '@halfopen/internal';
import { channels } from './diagnostics.js';
import { codes, EpochsRedisError } from './errors.js';
import { CLOSE, OPEN, OWNER, payloadPrefix, RECONCILE } from './scripts.js';

type Listener = (...args: any[]) => void;

/** The part of an ioredis `Redis` client this package uses (an ioredis client fits it). */
export interface RedisClient {
  readonly status: string;
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  /** Used when present (the script's text is then sent only after Redis answers NOSCRIPT). */
  evalsha?(sha: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  duplicate?(): RedisSubscriber;
}

/** The part of an ioredis client in subscriber mode this package uses. */
export interface RedisSubscriber {
  readonly status: string;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  disconnect(): void;
}

export interface OpenOptions {
  /**
   * The peer's own count of its connections (a connect counter or its connect time in ms),
   * when it sends one. Opens reach Redis in the order instances run them, which under load is
   * not always the order the peer connected; with a generation, an open older than the owner's
   * is refused (HALFOPEN_ERR_EPOCHS_REDIS_SUPERSEDED) instead of taking the peer from its newer
   * connection. It must only grow for a peer (a peer that restarts its counter is refused until
   * its owner closes). Default: none (the last open to reach Redis wins).
   */
  generation?: number;
}

/** Who owns a peer fleet-wide, as Redis records it. */
export interface Owner {
  /** The owning instance's id. */
  instance: string;
  /** The fleet epoch of the owning connection. */
  epoch: number;
  /** When it was opened (ms, the owning instance's clock). */
  since: number;
}

/** Why a local connection was revoked. */
export type RevokeReason = 'open' | 'broadcast' | 'reconcile';

/** What revoked a local connection: the new owner and its epoch, and how it was learnt. */
export interface Revocation {
  /** The instance that owns the peer now. */
  instance: string;
  /** The owning connection's fleet epoch. */
  epoch: number;
  /** 'open': a newer open here; 'broadcast': a supersede from Redis; 'reconcile': found after Redis was away. */
  reason: RevokeReason;
}

export interface FleetEpochsOptions<C> {
  /** An ioredis client for commands (required). Not closed by `shutdown()`. */
  redis: RedisClient;
  /**
   * An ioredis client for pub/sub. Default: `redis.duplicate()`, disconnected by `shutdown()`.
   * Given, it is only unsubscribed at shutdown.
   */
  subscriber?: RedisSubscriber;
  /** This instance's id, unique in the fleet (required): what `owner()` answers and revocations name. */
  instance: string;
  /** Prefix of the per-peer keys and of the channel `<prefix>supersede`. Default: 'halfopen:epochs:'. */
  prefix?: string;
  /**
   * Deadline of each round trip (open, owner, reconcile). An open's script that runs at Redis
   * later than half of this after it was sent (Redis TIME against `now`) changes nothing there,
   * so one that records the open answers within the other half. Default: 1000.
   */
  timeoutMs?: number;
  /** While Redis is unreachable, how often to try to reconcile. Default: 1000. */
  reconcileEveryMs?: number;
  /** Peers per reconcile script (one round trip each). Default: 500. */
  reconcileBatch?: number;
  /**
   * Called when a local connection is revoked because a newer one owns the peer (opened here,
   * broadcast from another instance, or found at reconciliation): the one place to act on it.
   * Default: `old.destroy()` when it has one. A throw or rejection is reported on
   * `halfopen:epochs-redis:error` (a process warning when nobody listens), never to the caller.
   */
  onSupersede?: (old: C, peer: string, oldEpoch: number, by: Revocation) => void;
  /** Clock in ms (for `since` and open deadlines). Default: Date.now. */
  now?: () => number;
}

export interface FleetEpochsStats {
  /** Peers whose current connection is held by this instance. */
  owned: number;
  /** Opens that took a fleet epoch (each broadcast a supersede). */
  opened: number;
  /** Opens refused: Redis unreachable or slow, or an older generation than the owner's. */
  refused: number;
  /** Supersedes received from Redis (well-formed). */
  received: number;
  /** Local connections revoked (by a newer open here, a broadcast, or reconciliation). */
  revoked: number;
  /** Of those, found at reconciliation: their supersede was lost while Redis was away. */
  lost: number;
  /** Peers re-recorded in Redis at reconciliation (Redis had lost them). */
  claimed: number;
  /** Reconciliations completed. */
  reconciles: number;
  /** Pub/sub payloads that were not supersedes. */
  malformed: number;
  /** Round trips that failed or timed out. */
  failures: number;
  /** Whether opens are accepted now (Redis reachable and reconciled). */
  connected: boolean;
}

const KEYS = [
  'redis',
  'subscriber',
  'instance',
  'prefix',
  'timeoutMs',
  'reconcileEveryMs',
  'reconcileBatch',
  'onSupersede',
  'now',
];
/** Longest peer id accepted (the key and payload carry it). */
export const MAX_PEER_LENGTH = 1024;
const MAX_PAYLOAD = 4096;

function destroyOld(old: unknown): unknown {
  const d = (old as { destroy?: () => unknown } | null)?.destroy;
  return typeof d === 'function' ? d.call(old) : undefined;
}

function isClient(v: unknown, methods: string[]): boolean {
  return (
    typeof v === 'object' &&
    v !== null &&
    methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function')
  );
}

function checkPeer(peer: unknown): asserts peer is string {
  if (typeof peer !== 'string' || peer === '' || peer.length > MAX_PEER_LENGTH)
    throw new TypeError(
      `peer must be a non-empty string of at most ${MAX_PEER_LENGTH} characters, got ${describe(peer)}`,
    );
}

/**
 * `ConnectionEpochs` with fleet scope: the newest connection for a peer on any instance owns
 * it. `open()` takes a fleet-wide epoch from Redis in one atomic script that also records the
 * owner and broadcasts the supersede; every instance revokes its older connection for the peer.
 * While Redis is unreachable, opens are refused (see the README for the trade-off); on
 * reconnect the held connections are reconciled (highest epoch wins).
 * Pass it to `SkewGuard` as `epochs`: messages are checked against the fleet epoch.
 */
export class FleetEpochs<C> {
  readonly instance: string;
  readonly channel: string;
  readonly #redis: RedisClient;
  readonly #sub: RedisSubscriber;
  readonly #ownsSub: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  /** How long after it is sent (this instance's clock) an open's script may still run: timeoutMs / 2. */
  readonly #scriptDeadlineMs: number;
  readonly #reconcileEveryMs: number;
  readonly #batch: number;
  readonly #onSupersede: NonNullable<FleetEpochsOptions<C>['onSupersede']>;
  readonly #now: () => number;
  readonly #life = new Lifecycle();
  readonly #owners = new Map<string, { epoch: number; conn: C }>();
  /** Peers with an open in flight here: the highest epoch broadcast for them meanwhile. */
  readonly #inflight = new Map<string, { n: number; seen: number; from: string }>();
  readonly #stats = {
    opened: 0,
    refused: 0,
    received: 0,
    revoked: 0,
    lost: 0,
    claimed: 0,
    reconciles: 0,
    malformed: 0,
    failures: 0,
  };
  #connected: boolean;
  #reconciling: Promise<void> | undefined;
  /** Bumped each time Redis goes away: a reconcile that saw it change read before the blip. */
  #generation = 0;
  #retry = false;
  readonly #onMessage = (channel: unknown, payload: unknown) => this.#message(channel, payload);
  readonly #onReady = () => this.#resync();
  readonly #onDown = () => this.#down();
  readonly #onSubReady = () => {
    this.#sub.subscribe(this.channel).then(
      () => this.#resync(),
      () => this.#down(),
    );
  };

  constructor(options: FleetEpochsOptions<C>) {
    const o = checkOptions(options, KEYS);
    if (!isClient(o.redis, ['eval', 'on', 'removeListener']))
      throw new TypeError(
        `options.redis must be an ioredis client (eval, on, removeListener), got ${describe(o.redis)}`,
      );
    if (
      o.subscriber !== undefined &&
      !isClient(o.subscriber, ['subscribe', 'unsubscribe', 'on', 'removeListener', 'disconnect'])
    )
      throw new TypeError(
        `options.subscriber must be an ioredis client (subscribe, unsubscribe, on, removeListener, disconnect), got ${describe(o.subscriber)}`,
      );
    if (o.subscriber === undefined && typeof o.redis.duplicate !== 'function')
      throw new TypeError('options.subscriber is required when options.redis has no duplicate()');
    this.instance = text(o.instance, 'options.instance', '');
    if (this.instance === '' || this.instance.length > MAX_PEER_LENGTH)
      throw new TypeError(
        `options.instance must be a non-empty string of at most ${MAX_PEER_LENGTH} characters, got ${describe(o.instance)}`,
      );
    this.#prefix = text(o.prefix, 'options.prefix', 'halfopen:epochs:');
    this.#timeoutMs = ms(o.timeoutMs, 'options.timeoutMs', { default: 1000, min: 1 });
    this.#scriptDeadlineMs = Math.ceil(this.#timeoutMs / 2);
    this.#reconcileEveryMs = ms(o.reconcileEveryMs, 'options.reconcileEveryMs', {
      default: 1000,
      min: 1,
    });
    this.#batch = count(o.reconcileBatch, 'options.reconcileBatch', {
      default: 500,
      min: 1,
      max: 100_000,
    });
    this.#onSupersede = fn(o.onSupersede, 'options.onSupersede') ?? destroyOld;
    this.#now = fn(o.now, 'options.now') ?? Date.now;
    this.channel = `${this.#prefix}supersede`;
    this.#redis = o.redis;
    this.#ownsSub = o.subscriber === undefined;
    this.#sub = o.subscriber ?? (o.redis.duplicate as () => RedisSubscriber)();
    // Ours: its connection errors are ours to absorb (ioredis reconnects; 'close' marks us down).
    if (this.#ownsSub) this.#sub.on('error', this.#onDown);
    this.#connected = this.#redis.status === 'ready';
    this.#sub.on('message', this.#onMessage);
    this.#sub.on('ready', this.#onSubReady);
    this.#sub.on('close', this.#onDown);
    this.#redis.on('ready', this.#onReady);
    this.#redis.on('close', this.#onDown);
    // Subscribed first, then reconciled: a supersede published after the reconcile read is heard.
    this.#onSubReady();
  }

  /**
   * Registers `conn` as the peer's connection and takes its fleet epoch (higher than any
   * before for the peer, on any instance): one Redis round trip that also records the owner and
   * broadcasts the supersede. Older connections for the peer, here and on every instance, are
   * revoked. Rejects with HALFOPEN_ERR_EPOCHS_REDIS_UNAVAILABLE when Redis is unreachable or
   * does not answer within `timeoutMs`: `conn` is then not registered (close it; the peer will
   * reconnect, to an instance that reaches Redis). The script runs only within `timeoutMs / 2`
   * of sending (Redis's clock against `now`), so an open refused on the timer changed nothing in
   * Redis, unless its reply took longer than `timeoutMs / 2` less the amount this clock is ahead
   * of Redis's: older connections were then revoked, and Redis names this instance owner at an
   * epoch no connection holds until the late reply arrives (the record is then removed, as by
   * `close()`) or, if it is lost, until the peer's next open. See the README on clocks.
   */
  async open(peer: string, conn: C, options?: OpenOptions): Promise<number> {
    checkPeer(peer);
    const o = checkOptions(options, ['generation']);
    const generation = o.generation;
    if (
      generation !== undefined &&
      (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0)
    )
      throw new TypeError(
        `options.generation must be a safe integer >= 0, got ${describe(generation)}`,
      );
    if (this.#life.closed) throw this.#closedError(peer);
    if (!this.#connected || this.#redis.status !== 'ready') {
      this.#stats.refused++;
      this.#retryLater();
      throw new EpochsRedisError(
        codes.UNAVAILABLE,
        `open of ${peer} on instance ${this.instance} refused: Redis is unreachable (status ${this.#redis.status}); reconciling every ${this.#reconcileEveryMs} ms`,
        { peer, instance: this.instance },
      );
    }
    const flight = this.#inflight.get(peer) ?? { n: 0, seen: 0, from: '' };
    flight.n++;
    this.#inflight.set(peer, flight);
    const since = this.#clock();
    let reply: unknown;
    try {
      reply = await this.#call(
        'open',
        peer,
        OPEN,
        [this.#key(peer)],
        [
          this.instance,
          since,
          since + this.#scriptDeadlineMs,
          this.channel,
          payloadPrefix(peer, this.instance, since),
          generation ?? '',
        ],
        // Recorded, but the caller was told UNAVAILABLE: Redis forgets the owner nobody holds.
        (late) => {
          const e = Array.isArray(late) ? late[0] : undefined;
          if (typeof e === 'string' && Number(e) >= 1) this.#forget(peer, e);
        },
      );
    } catch (error) {
      this.#stats.refused++;
      throw error;
    } finally {
      if (--flight.n === 0) this.#inflight.delete(peer);
    }
    const [e, prevEpoch, prevInstance, prevGeneration] = (
      Array.isArray(reply) ? reply : []
    ) as unknown[];
    if (e === '-2') {
      this.#stats.refused++;
      throw new EpochsRedisError(
        codes.SUPERSEDED,
        `open of ${peer} on instance ${this.instance} refused: generation ${generation} is older than the owner's ${safeString(prevGeneration)} (instance ${safeString(prevInstance)}, epoch ${safeString(prevEpoch)})`,
        { peer, instance: this.instance },
      );
    }
    const epoch = Number(e);
    if (!Number.isSafeInteger(epoch) || epoch < 1) {
      this.#stats.refused++;
      this.#stats.failures++;
      const why =
        e === '-1'
          ? `the script reached Redis after its ${this.#scriptDeadlineMs} ms deadline (half of timeoutMs) by this instance's clock (${since}, Redis clock ${safeString(prevEpoch)} ms)`
          : `Redis answered ${describe(reply)}, not an epoch`;
      throw new EpochsRedisError(
        codes.UNAVAILABLE,
        `open of ${peer} on instance ${this.instance} refused: ${why}`,
        { peer, instance: this.instance },
      );
    }
    this.#stats.opened++;
    publish(channels.sent, {
      peer,
      epoch,
      instance: this.instance,
      previous: prevEpoch
        ? { instance: String(prevInstance), epoch: Number(prevEpoch) }
        : undefined,
    });
    if (this.#life.closed) return epoch;
    const old = this.#owners.get(peer);
    if (flight.seen > epoch) {
      // A newer connection was opened elsewhere meanwhile: this one lost already.
      this.#revoke(conn, peer, epoch, flight.from, flight.seen, 'broadcast');
      return epoch;
    }
    if (old && old.epoch > epoch) {
      this.#revoke(conn, peer, epoch, this.instance, old.epoch, 'open');
      return epoch;
    }
    this.#owners.set(peer, { epoch, conn });
    if (old && old.conn !== conn)
      this.#revoke(old.conn, peer, old.epoch, this.instance, epoch, 'open');
    return epoch;
  }

  /**
   * Forgets the peer's connection if it is `conn` (a superseded one closing changes nothing),
   * and the owner record in Redis if it is still this one (in the background; failures count).
   */
  close(peer: string, conn: C): boolean {
    const cur = this.#owners.get(peer);
    if (!cur || cur.conn !== conn) return false;
    this.#owners.delete(peer);
    this.#forget(peer, cur.epoch);
    return true;
  }

  /** Forgets the owner record in Redis, in the background, if it is still this epoch of ours. */
  #forget(peer: string, epoch: number | string): void {
    if (!this.#life.closed)
      this.#call('close', peer, CLOSE, [this.#key(peer)], [this.instance, epoch]).catch(() => {});
  }

  /** Which instance and epoch own the peer fleet-wide, from Redis; undefined when none does. */
  async owner(peer: string): Promise<Owner | undefined> {
    checkPeer(peer);
    if (this.#life.closed) throw this.#closedError(peer);
    const r = (await this.#call('owner', peer, OWNER, [this.#key(peer)], [])) as unknown[];
    const [epoch, instance, since] = Array.isArray(r) ? r : [];
    if (typeof instance !== 'string' || typeof epoch !== 'string') return undefined;
    return { instance, epoch: Number(epoch), since: Number(since) };
  }

  /** The fleet epoch of the peer's connection held here, or undefined (what SkewGuard asks). */
  epochOf(peer: string): number | undefined {
    return this.#owners.get(peer)?.epoch;
  }

  current(peer: string): { epoch: number; conn: C } | undefined {
    const cur = this.#owners.get(peer);
    return cur && { epoch: cur.epoch, conn: cur.conn };
  }

  isCurrent(peer: string, epoch: number): boolean {
    return this.#owners.get(peer)?.epoch === epoch;
  }

  /** Peers whose connection is held here. */
  get size(): number {
    return this.#owners.size;
  }

  /** Whether opens are accepted now: Redis reachable and the held connections reconciled. */
  get connected(): boolean {
    return this.#connected && !this.#life.closed;
  }

  stats(): FleetEpochsStats {
    return { owned: this.#owners.size, ...this.#stats, connected: this.connected };
  }

  /**
   * Checks every held connection against Redis: one that lost (a higher epoch is recorded) is
   * revoked; one Redis no longer knows (it restarted) is recorded again and broadcast, so the
   * highest epoch wins fleet-wide. Runs by itself after Redis comes back; one at a time (a call
   * meanwhile joins it). A pass during which Redis went away runs again; rejects with
   * HALFOPEN_ERR_EPOCHS_REDIS_UNAVAILABLE when Redis is still away (a retry is scheduled).
   */
  reconcile(): Promise<void> {
    if (this.#life.closed) return Promise.reject(this.#closedError(undefined));
    this.#reconciling ??= this.#reconcileAll().finally(() => {
      this.#reconciling = undefined;
    });
    return this.#reconciling;
  }

  /**
   * Stops: pending calls reject with HALFOPEN_ERR_EPOCHS_REDIS_CLOSED, listeners and timers go,
   * the subscriber is unsubscribed (and disconnected if this created it). Held connections are
   * left to the caller; Redis keeps their owner records.
   */
  async shutdown(): Promise<void> {
    if (!this.#life.close(this.#closedError(undefined))) return;
    this.#sub.removeListener('message', this.#onMessage);
    this.#sub.removeListener('ready', this.#onSubReady);
    this.#sub.removeListener('close', this.#onDown);
    if (this.#ownsSub) this.#sub.removeListener('error', this.#onDown);
    this.#redis.removeListener('ready', this.#onReady);
    this.#redis.removeListener('close', this.#onDown);
    if (this.#ownsSub) this.#sub.disconnect();
    else await this.#sub.unsubscribe(this.channel).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** The injected clock, or Date.now when it throws or answers something that is not a time. */
  #clock(): number {
    // A throw or a returned thenable's rejection is absorbed (never an unhandled rejection).
    const t: unknown = callUser(this.#now, [], () => {});
    return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 ? t : Date.now();
  }

  #key(peer: string): string {
    return `${this.#prefix}${peer}`;
  }

  #closedError(peer: string | undefined): EpochsRedisError {
    return new EpochsRedisError(codes.CLOSED, `instance ${this.instance} was shut down`, {
      peer,
      instance: this.instance,
    });
  }

  /**
   * One script, one round trip, within timeoutMs; a failure marks Redis unreachable. `late`
   * gets a reply that arrived after the timer rejected the call.
   */
  #call(
    op: string,
    peer: string | undefined,
    script: string,
    keys: string[],
    argv: Array<string | number>,
    late?: (reply: unknown) => void,
  ): Promise<unknown> {
    const where = `${op}${peer === undefined ? '' : ` of ${peer}`} on instance ${this.instance}`;
    const context = { peer, instance: this.instance };
    const call = new Promise<unknown>((resolve, reject) => {
      let expired = false;
      const timer = this.#life.timeout(() => {
        expired = true;
        reject(
          new EpochsRedisError(
            codes.UNAVAILABLE,
            `${where}: Redis did not answer within ${this.#timeoutMs} ms`,
            context,
          ),
        );
      }, this.#timeoutMs);
      this.#send(script, keys.length, [...keys, ...argv]).then(
        (v) => {
          timer.cancel();
          if (expired && !this.#life.closed) late?.(v);
          resolve(v);
        },
        (error: unknown) => {
          timer.cancel();
          reject(
            new EpochsRedisError(
              codes.UNAVAILABLE,
              `${where} failed: ${safeString((error as Error | undefined)?.message ?? error)}`,
              context,
              { cause: error },
            ),
          );
        },
      );
    });
    return this.#life
      .track(call, () => this.#closedError(peer))
      .catch((error: unknown) => {
        if (!this.#life.closed) {
          this.#stats.failures++;
          publish(channels.unavailable, { instance: this.instance, peer, op, error });
          this.#down();
        }
        throw error;
      });
  }

  /** EVALSHA, and EVAL when Redis does not have the script (first use, after a restart). */
  #send(script: string, numKeys: number, args: Array<string | number>): Promise<unknown> {
    const redis = this.#redis;
    const evalsha = redis.evalsha;
    if (typeof evalsha !== 'function')
      return callUserAsync(redis.eval, [script, numKeys, ...args], redis);
    return callUserAsync(evalsha, [sha1(script), numKeys, ...args], redis).catch(
      (error: unknown) => {
        if (!/^NOSCRIPT/.test(safeString((error as Error | undefined)?.message))) throw error;
        return callUserAsync(redis.eval, [script, numKeys, ...args], redis);
      },
    );
  }

  /** Redis went away or a round trip failed: refuse opens until a reconcile succeeds. */
  #down(): void {
    if (this.#life.closed) return;
    this.#generation++;
    this.#retryLater();
  }

  /** Opens stay refused, and a reconcile is tried again in reconcileEveryMs. */
  #retryLater(): void {
    if (this.#life.closed) return;
    this.#connected = false;
    if (this.#retry) return;
    this.#retry = true;
    this.#life.timeout(() => {
      this.#retry = false;
      this.#resync();
    }, this.#reconcileEveryMs);
  }

  #resync(): void {
    if (this.#life.closed) return;
    if (!this.#ready()) {
      this.#retryLater();
      return;
    }
    this.reconcile().catch(() => {}); // a failure marked Redis down and scheduled a retry
  }

  #ready(): boolean {
    return this.#redis.status === 'ready' && this.#sub.status === 'ready';
  }

  /**
   * Passes until one ran with Redis up throughout: a pass during which Redis went away (the
   * subscriber too) read before supersedes lost meanwhile, and a resync after the blip joined
   * it rather than starting one. Opens are accepted only after a clean pass.
   */
  async #reconcileAll(): Promise<void> {
    for (;;) {
      const generation = this.#generation;
      await this.#reconcilePass();
      if (this.#generation === generation && this.#ready()) break;
      if (!this.#ready()) {
        this.#retryLater();
        throw new EpochsRedisError(
          codes.UNAVAILABLE,
          `reconcile on instance ${this.instance}: Redis went away meanwhile (status ${this.#redis.status}, subscriber ${this.#sub.status}); reconciling every ${this.#reconcileEveryMs} ms`,
          { peer: undefined, instance: this.instance },
        );
      }
    }
    this.#connected = true;
  }

  async #reconcilePass(): Promise<void> {
    const held = [...this.#owners];
    const since = this.#clock();
    let kept = 0;
    let claimed = 0;
    let revoked = 0;
    // One round trip at least, also with nothing held: it proves Redis answers.
    for (let i = 0; i === 0 || i < held.length; i += this.#batch) {
      const part = held.slice(i, i + this.#batch);
      const argv: Array<string | number> = [this.instance, this.channel, since];
      for (const [peer, { epoch }] of part)
        argv.push(String(epoch), payloadPrefix(peer, this.instance, since));
      const keys = part.map(([peer]) => this.#key(peer));
      const out = (await this.#call('reconcile', undefined, RECONCILE, keys, argv)) as unknown[];
      for (let j = 0; j < part.length; j++) {
        const [peer, mine] = part[j]!;
        const [outcome, e, owner] = (Array.isArray(out?.[j]) ? out[j] : []) as string[];
        if (outcome === 'kept') kept++;
        else if (outcome === 'claimed') {
          claimed++;
          this.#stats.claimed++;
        } else if (outcome === 'lost') {
          const cur = this.#owners.get(peer);
          if (cur !== mine) continue; // replaced or closed meanwhile
          revoked++;
          this.#stats.lost++;
          const epoch = Number(e);
          publish(channels.lost, {
            peer,
            oldEpoch: mine.epoch,
            epoch,
            instance: this.instance,
            owner: owner ?? '',
          });
          this.#owners.delete(peer);
          this.#revoke(mine.conn, peer, mine.epoch, owner ?? '', epoch, 'reconcile');
        }
      }
    }
    this.#stats.reconciles++;
    publish(channels.reconciled, {
      instance: this.instance,
      checked: held.length,
      kept,
      claimed,
      revoked,
    });
  }

  #message(channel: unknown, payload: unknown): void {
    if (channel !== this.channel || this.#life.closed) return;
    const msg = this.#parse(payload);
    if (typeof msg === 'string') {
      this.#stats.malformed++;
      publish(channels.malformed, {
        instance: this.instance,
        reason: msg,
        payload: typeof payload === 'string' ? payload.slice(0, 200) : describe(payload),
      });
      return;
    }
    const { peer, epoch, instance: from } = msg;
    this.#stats.received++;
    publish(channels.received, { peer, epoch, from, instance: this.instance });
    const flight = this.#inflight.get(peer);
    if (flight && epoch > flight.seen) {
      flight.seen = epoch;
      flight.from = from;
    }
    const cur = this.#owners.get(peer);
    if (!cur || cur.epoch >= epoch) return; // ours is newer (or is this one)
    this.#owners.delete(peer);
    this.#revoke(cur.conn, peer, cur.epoch, from, epoch, 'broadcast');
  }

  /** A well-formed supersede, or why the payload is not one. */
  #parse(payload: unknown): { peer: string; epoch: number; instance: string } | string {
    if (typeof payload !== 'string') return 'not a string';
    if (payload.length > MAX_PAYLOAD) return `longer than ${MAX_PAYLOAD} characters`;
    let m: unknown;
    try {
      m = JSON.parse(payload);
    } catch {
      return 'not JSON';
    }
    if (typeof m !== 'object' || m === null) return 'not an object';
    const { v, peer, epoch, instance } = m as Record<string, unknown>;
    if (v !== 1) return 'unknown version';
    if (typeof peer !== 'string' || peer === '' || peer.length > MAX_PEER_LENGTH) return 'bad peer';
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return 'bad epoch';
    if (typeof instance !== 'string' || instance === '') return 'bad instance';
    return { peer, epoch, instance };
  }

  #revoke(
    old: C,
    peer: string,
    oldEpoch: number,
    owner: string,
    epoch: number,
    reason: RevokeReason,
  ): void {
    this.#stats.revoked++;
    publish(channels.applied, {
      peer,
      oldEpoch,
      epoch,
      instance: this.instance,
      owner,
      reason,
    });
    const by: Revocation = { instance: owner, epoch, reason };
    callUser(this.#onSupersede, [old, peer, oldEpoch, by], (error) => {
      if (channels.error.hasSubscribers)
        publish(channels.error, { peer, instance: this.instance, error });
      else
        process.emitWarning(
          `onSupersede for ${peer} on instance ${this.instance} failed: ${safeString(error)}`,
          'HalfopenEpochsRedisWarning',
        );
    });
  }
}

const shas = new Map<string, string>();
function sha1(script: string): string {
  let sha = shas.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script).digest('hex');
    shas.set(script, sha);
  }
  return sha;
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return typeof v;
  }
}
