/**
 * The base of every error a halfopen package throws or reports. `code` is stable
 * (`HALFOPEN_ERR_*`): match on it, not on the message or the class (each package bundles its
 * own copy of this class, so `instanceof` across packages is not meaningful). The message
 * starts with the code and carries the context (peer, limit, elapsed time).
 */
export class HalfopenError extends Error {
  override name = 'HalfopenError';
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}
