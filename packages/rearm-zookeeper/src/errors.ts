import { HalfopenError } from '@halfopen/internal';

/** Stable codes of the errors @halfopen/rearm-zookeeper rejects reads with: match on `code`. */
export type ZooKeeperSourceErrorCode =
  /** The source was closed; pending and later reads reject with it. */
  | 'HALFOPEN_ERR_REARM_ZOOKEEPER_CLOSED'
  /** Every server refused or could not be reached before a session was made; `cause` is the socket error (`ECONNREFUSED` and the address). */
  | 'HALFOPEN_ERR_REARM_ZOOKEEPER_CONNECT'
  /** No session within `handshakeTimeoutMs` (a server that accepts and never answers, or a black hole). */
  | 'HALFOPEN_ERR_REARM_ZOOKEEPER_HANDSHAKE_TIMEOUT'
  /** The client was closed or replaced (session expired, not reconnected in time) before the read was answered. */
  | 'HALFOPEN_ERR_REARM_ZOOKEEPER_CLIENT_LOST'
  /** `getChildren`/`exists` failed (`cause` is the ZooKeeper exception), or the parent appeared during the read. */
  | 'HALFOPEN_ERR_REARM_ZOOKEEPER_READ_FAILED'
  /** `createClient` threw or did not return a node-zookeeper-client Client. */
  | 'HALFOPEN_ERR_REARM_ZOOKEEPER_BAD_CLIENT';

/** The one error class of @halfopen/rearm-zookeeper; `code` says which failure it is. */
export class ZooKeeperSourceError extends HalfopenError {
  override name = 'ZooKeeperSourceError';
  declare readonly code: ZooKeeperSourceErrorCode;
  /** The watched znode. */
  readonly path: string;
  constructor(
    code: ZooKeeperSourceErrorCode,
    path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, `zookeeperChildren(${path}): ${message}`, options);
    this.path = path;
  }
}
