import { EventEmitter } from 'eventemitter3';

export interface ConnectionEpochsOptions<C> {
  /**
   * Called when a peer's connection is superseded by a newer one (or revoked). Default: the
   * old connection is destroyed when it has `destroy()`.
   */
  onSupersede?: (old: C, peer: string, oldEpoch: number, newEpoch: number | undefined) => void;
}

export interface ConnectionEpochsEvents<C> {
  supersede: [old: C, peer: string, oldEpoch: number, newEpoch: number | undefined];
}

// One counter for every peer and every ConnectionEpochs in the process: a peer's epochs only
// increase, and nothing needs to be remembered about a peer once its connection closed.
let counter = 0;

/**
 * Which connection currently owns each peer: the newest one. Opening a new connection for a
 * peer supersedes (by default destroys) the older one, so messages from it can be refused.
 */
export class ConnectionEpochs<C> extends EventEmitter<ConnectionEpochsEvents<C>> {
  private readonly owners = new Map<string, { epoch: number; conn: C }>();
  private readonly onSupersede: ConnectionEpochsOptions<C>['onSupersede'];
  private supersededCount = 0;

  constructor(options: ConnectionEpochsOptions<C> = {}) {
    super();
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object');
    if (options.onSupersede !== undefined && typeof options.onSupersede !== 'function') {
      throw new TypeError('options.onSupersede must be a function');
    }
    this.onSupersede = options.onSupersede;
  }

  /** Registers `conn` as the peer's connection; returns its epoch, higher than any before. */
  open(peer: string, conn: C): number {
    if (typeof peer !== 'string' || peer === '')
      throw new TypeError('peer must be a non-empty string');
    const epoch = ++counter;
    const old = this.owners.get(peer);
    this.owners.set(peer, { epoch, conn });
    if (old && old.conn !== conn) this.supersede(old.conn, peer, old.epoch, epoch);
    return epoch;
  }

  /** Forgets the peer's connection if it is `conn` (a superseded one closing changes nothing). */
  close(peer: string, conn: C): boolean {
    const cur = this.owners.get(peer);
    if (!cur || cur.conn !== conn) return false;
    this.owners.delete(peer);
    return true;
  }

  /**
   * Supersedes whatever connection this process holds for the peer: for a broadcast from
   * another instance saying the peer reconnected there. Returns whether there was one.
   */
  revoke(peer: string): boolean {
    const cur = this.owners.get(peer);
    if (!cur) return false;
    this.owners.delete(peer);
    this.supersede(cur.conn, peer, cur.epoch, undefined);
    return true;
  }

  current(peer: string): { epoch: number; conn: C } | undefined {
    const cur = this.owners.get(peer);
    return cur && { epoch: cur.epoch, conn: cur.conn };
  }

  isCurrent(peer: string, epoch: number): boolean {
    return this.owners.get(peer)?.epoch === epoch;
  }

  /** The current epoch of the peer's connection, or undefined. */
  epochOf(peer: string): number | undefined {
    return this.owners.get(peer)?.epoch;
  }

  get size(): number {
    return this.owners.size;
  }

  get superseded(): number {
    return this.supersededCount;
  }

  private supersede(old: C, peer: string, oldEpoch: number, newEpoch: number | undefined): void {
    this.supersededCount++;
    this.emit('supersede', old, peer, oldEpoch, newEpoch);
    if (this.onSupersede) {
      this.onSupersede(old, peer, oldEpoch, newEpoch);
      return;
    }
    const d = (old as { destroy?: () => unknown } | null)?.destroy;
    if (typeof d === 'function') d.call(old);
  }
}
