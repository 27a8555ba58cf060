import { HalfopenError } from '@halfopen/internal';

export type HealthErrorCode =
  | 'HALFOPEN_ERR_HEALTH_CLOSED'
  | 'HALFOPEN_ERR_HEALTH_DUPLICATE'
  | 'HALFOPEN_ERR_HEALTH_BUDGET';

/** Base class of this package's errors; match on `code`. */
export class HealthError extends HalfopenError {
  override name = 'HealthError';
  declare readonly code: HealthErrorCode;
  constructor(code: HealthErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
