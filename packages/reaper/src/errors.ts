import { HalfopenError } from '@halfopen/internal';

/** The codes a ConnectionMap's errors carry; match on these. */
export type ReaperErrorCode =
  | 'HALFOPEN_ERR_REAPER_CLOSED'
  | 'HALFOPEN_ERR_REAPER_NO_ENTRY'
  | 'HALFOPEN_ERR_REAPER_REAPED'
  | 'HALFOPEN_ERR_REAPER_REMOVED'
  | 'HALFOPEN_ERR_REAPER_CALLBACK';

/** Every error this package throws, rejects with or reports; match on `code`. */
export class ReaperError extends HalfopenError {
  override name = 'ReaperError';
  declare readonly code: ReaperErrorCode;
  constructor(
    code: ReaperErrorCode,
    /** The map's `name`. */
    readonly map: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}
