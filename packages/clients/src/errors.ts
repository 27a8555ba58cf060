import { HalfopenError } from '@halfopen/internal';

/** Every code this package throws or reports. */
export type ClientsErrorCode = 'HALFOPEN_ERR_AGENT_DESTROYED';

/** Base class of this package's errors; match on `code`. */
export class ClientsError extends HalfopenError {
  override name = 'ClientsError';
  declare readonly code: ClientsErrorCode;
  constructor(code: ClientsErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A request was handed to an agent after `destroy()`. */
export class AgentDestroyedError extends ClientsError {
  override name = 'AgentDestroyedError';
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super('HALFOPEN_ERR_AGENT_DESTROYED', `request to ${host}:${port} on a destroyed agent`);
  }
}
