import { HalfopenError } from '@halfopen/internal';

/** Codes of @halfopen/epochs-redis errors: match on `code`. */
export const codes = {
  /** Redis did not answer within `timeoutMs`, or is known to be unreachable: the open is refused. */
  UNAVAILABLE: 'HALFOPEN_ERR_EPOCHS_REDIS_UNAVAILABLE',
  /**
   * The peer's generation for this connection is lower than the owner's: the peer opened a newer
   * connection elsewhere, and this open reached Redis after it. Nothing changed; close `conn`.
   */
  SUPERSEDED: 'HALFOPEN_ERR_EPOCHS_REDIS_SUPERSEDED',
  /** `shutdown()` was called: pending and later calls are refused. */
  CLOSED: 'HALFOPEN_ERR_EPOCHS_REDIS_CLOSED',
} as const;

/** The base of every error @halfopen/epochs-redis throws or reports. */
export class EpochsRedisError extends HalfopenError {
  override name = 'EpochsRedisError';
  /** The peer the call was about, when there was one. */
  readonly peer: string | undefined;
  /** This instance's id. */
  readonly instance: string;
  constructor(
    code: string,
    message: string,
    context: { peer?: string; instance: string },
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.peer = context.peer;
    this.instance = context.instance;
  }
}
