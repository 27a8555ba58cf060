import { HalfopenError } from '@halfopen/internal';

/** Stable codes of the errors @halfopen/rearm reports or rejects with: match on `code`. */
export type RearmErrorCode =
  /** The view was closed (`close()`); `ready` and an in-flight read's signal carry it. */
  | 'HALFOPEN_ERR_REARM_CLOSED'
  /** `source.read()` threw, rejected, or resolved without `{ value, version, next }`; `cause` is the source's error. */
  | 'HALFOPEN_ERR_REARM_READ_FAILED'
  /** A read was not answered within `readTimeoutMs`; its signal is aborted with this error. */
  | 'HALFOPEN_ERR_REARM_READ_TIMEOUT'
  /** `accept` or `compare` threw or returned the wrong type: the read counts as failed. */
  | 'HALFOPEN_ERR_REARM_CALLBACK_FAILED'
  /** `ready` gave up: no read succeeded within `staleAfterMs`; `cause` is the last read error. */
  | 'HALFOPEN_ERR_REARM_NOT_READY';

/** The one error class of @halfopen/rearm; `code` says which failure it is. */
export class RearmError extends HalfopenError {
  override name = 'RearmError';
  declare readonly code: RearmErrorCode;
  /** The view's name. */
  readonly view: string;
  constructor(code: RearmErrorCode, view: string, message: string, options?: ErrorOptions) {
    super(code, `view '${view}': ${message}`, options);
    this.view = view;
  }
}
