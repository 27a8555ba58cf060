import { callUser, checkOptions, fn, publish } from '@halfopen/internal';
import { channels } from './diagnostics.js';

export interface ConnectionEpochsOptions<C> {
  /**
   * Called when a peer's connection is superseded by a newer one (or revoked): the one way to
   * observe a supersede, and what to do about it. `newEpoch` is undefined for `revoke()`.
   * Default: the old connection is destroyed when it has `destroy()`. Given, it replaces the
   * default: call `old.destroy()` yourself to do both. A throw is reported on
   * `halfopen:skew-guard:error` (a process warning when nobody listens), never to the caller.
   */
  onSupersede?: (old: C, peer: string, oldEpoch: number, newEpoch: number | undefined) => void;
}

// One counter for every peer and every ConnectionEpochs in the process: a peer's epochs only
// increase, and nothing needs to be remembered about a peer once its connection closed.
let counter = 0;

function destroyOld(old: unknown): unknown {
  const d = (old as { destroy?: () => unknown } | null)?.destroy;
  return typeof d === 'function' ? d.call(old) : undefined; // a returned promise is watched too
}

/**
 * Which connection currently owns each peer: the newest one. Opening a new connection for a
 * peer supersedes (by default destroys) the older one, so messages from it can be refused.
 */
export class ConnectionEpochs<C> {
  readonly #owners = new Map<string, { epoch: number; conn: C }>();
  readonly #onSupersede: NonNullable<ConnectionEpochsOptions<C>['onSupersede']>;
  #superseded = 0;

  constructor(options?: ConnectionEpochsOptions<C>) {
    const o = checkOptions(options, ['onSupersede']);
    this.#onSupersede = fn(o.onSupersede, 'options.onSupersede') ?? destroyOld;
  }

  /** Registers `conn` as the peer's connection; returns its epoch, higher than any before. */
  open(peer: string, conn: C): number {
    if (typeof peer !== 'string' || peer === '')
      throw new TypeError(`peer must be a non-empty string, got ${typeof peer}`);
    const epoch = ++counter;
    const old = this.#owners.get(peer);
    this.#owners.set(peer, { epoch, conn });
    if (old && old.conn !== conn) this.#supersede(old.conn, peer, old.epoch, epoch);
    return epoch;
  }

  /** Forgets the peer's connection if it is `conn` (a superseded one closing changes nothing). */
  close(peer: string, conn: C): boolean {
    const cur = this.#owners.get(peer);
    if (!cur || cur.conn !== conn) return false;
    this.#owners.delete(peer);
    return true;
  }

  /**
   * Supersedes whatever connection this process holds for the peer: for a broadcast from
   * another instance saying the peer reconnected there. Returns whether there was one.
   */
  revoke(peer: string): boolean {
    const cur = this.#owners.get(peer);
    if (!cur) return false;
    this.#owners.delete(peer);
    this.#supersede(cur.conn, peer, cur.epoch, undefined);
    return true;
  }

  current(peer: string): { epoch: number; conn: C } | undefined {
    const cur = this.#owners.get(peer);
    return cur && { epoch: cur.epoch, conn: cur.conn };
  }

  isCurrent(peer: string, epoch: number): boolean {
    return this.#owners.get(peer)?.epoch === epoch;
  }

  /** The current epoch of the peer's connection, or undefined. */
  epochOf(peer: string): number | undefined {
    return this.#owners.get(peer)?.epoch;
  }

  get size(): number {
    return this.#owners.size;
  }

  /** Connections superseded so far (by `open()` or `revoke()`). */
  get superseded(): number {
    return this.#superseded;
  }

  #supersede(old: C, peer: string, oldEpoch: number, newEpoch: number | undefined): void {
    this.#superseded++;
    callUser(this.#onSupersede, [old, peer, oldEpoch, newEpoch], (error) => {
      if (channels.error.hasSubscribers) publish(channels.error, { peer, error });
      else
        process.emitWarning(
          `onSupersede for ${peer} failed: ${safeString(error)}`,
          'HalfopenSkewGuardWarning',
        );
    });
  }
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return typeof v;
  }
}
