/** Base class of this package's errors; match on `code`. */
export class KeepAliveError extends Error {
  override name = 'KeepAliveError';
  constructor(
    readonly code: 'HALFOPEN_ERR_CONNECT_TIMEOUT' | 'HALFOPEN_ERR_KEEPALIVE_UNSUPPORTED',
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${code}: ${message}`, options);
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

/** With `strict`, a setting that could not be applied on this platform. */
export class KeepAliveUnsupportedError extends KeepAliveError {
  override name = 'KeepAliveUnsupportedError';
  constructor(readonly unsupported: string[]) {
    super(
      'HALFOPEN_ERR_KEEPALIVE_UNSUPPORTED',
      `cannot apply ${unsupported.join(', ')} here (see keepAliveSupport())`,
    );
  }
}
