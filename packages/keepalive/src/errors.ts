import { HalfopenError } from '@halfopen/internal';

/** Every code this package throws or reports. */
export type KeepAliveErrorCode =
  | 'HALFOPEN_ERR_CONNECT_TIMEOUT'
  | 'HALFOPEN_ERR_CONNECT_CLOSED'
  | 'HALFOPEN_ERR_KEEPALIVE_UNSUPPORTED'
  | 'HALFOPEN_ERR_KEEPALIVE_FAILED';

/** Base class of this package's errors; match on `code`. */
export class KeepAliveError extends HalfopenError {
  override name = 'KeepAliveError';
  declare readonly code: KeepAliveErrorCode;
  constructor(code: KeepAliveErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A connect attempt, or the whole connect, did not complete in time. */
export class ConnectTimeoutError extends KeepAliveError {
  override name = 'ConnectTimeoutError';
  constructor(
    readonly host: string,
    readonly port: number,
    readonly limitMs: number,
    /** Which attempt timed out (1-based), or undefined for the overall deadline. */
    readonly attempt: number | undefined,
  ) {
    super(
      'HALFOPEN_ERR_CONNECT_TIMEOUT',
      attempt === undefined
        ? `connect to ${host}:${port} did not complete within timeoutMs ${limitMs} (all attempts)`
        : `connect attempt ${attempt} to ${host}:${port} did not complete within attemptTimeoutMs ${limitMs}`,
    );
  }
}

/** An attempt's socket closed (destroyed without an error) before it connected. */
export class ConnectClosedError extends KeepAliveError {
  override name = 'ConnectClosedError';
  constructor(
    readonly host: string,
    readonly port: number,
    readonly attempt: number,
  ) {
    super(
      'HALFOPEN_ERR_CONNECT_CLOSED',
      `connect attempt ${attempt} to ${host}:${port}: the socket closed before it connected`,
    );
  }
}

/** With `strict`, a setting that could not be applied on this platform. */
export class KeepAliveUnsupportedError extends KeepAliveError {
  override name = 'KeepAliveUnsupportedError';
  constructor(readonly unsupported: string[]) {
    super(
      'HALFOPEN_ERR_KEEPALIVE_UNSUPPORTED',
      `cannot apply ${unsupported.join('; ')} here (see keepAliveSupport())`,
    );
  }
}

/** The kernel refused a setting, or the socket was gone before it could be configured. */
export class KeepAliveFailedError extends KeepAliveError {
  override name = 'KeepAliveFailedError';
  constructor(message: string, options?: ErrorOptions) {
    super('HALFOPEN_ERR_KEEPALIVE_FAILED', message, options);
  }
}
