import { HalfopenError } from '@halfopen/internal';

export type SockoptErrorCode =
  | 'HALFOPEN_ERR_SOCKET_DESTROYED'
  | 'HALFOPEN_ERR_SOCKOPT_UNSUPPORTED'
  | 'HALFOPEN_ERR_SOCKOPT_FAILED';

/**
 * Every error @halfopen/sockopt throws (besides option TypeErrors/RangeErrors). Match on `code`:
 * - `HALFOPEN_ERR_SOCKET_DESTROYED`: the socket has no file descriptor (destroyed, or not yet
 *   connecting).
 * - `HALFOPEN_ERR_SOCKOPT_UNSUPPORTED`: no native part on this platform; the message says why.
 * - `HALFOPEN_ERR_SOCKOPT_FAILED`: the kernel refused; `errno` and `option` say what and where.
 */
export class SockoptError extends HalfopenError {
  override name = 'SockoptError';
  declare readonly code: SockoptErrorCode;
  /** The errno name (`EBADF`, `EOPNOTSUPP`) for HALFOPEN_ERR_SOCKOPT_FAILED. */
  readonly errno: string | undefined;
  /** The option or call that failed (`setsockopt(TCP_KEEPCNT)`) for HALFOPEN_ERR_SOCKOPT_FAILED. */
  readonly option: string | undefined;
  constructor(
    code: SockoptErrorCode,
    message: string,
    context: { errno?: string; option?: string; cause?: unknown } = {},
  ) {
    super(code, message, context.cause === undefined ? undefined : { cause: context.cause });
    this.errno = context.errno;
    this.option = context.option;
  }
}
