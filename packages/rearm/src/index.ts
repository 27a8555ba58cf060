export { channels } from './diagnostics.js';
export { RearmError, type RearmErrorCode } from './errors.js';
export {
  diffMembers,
  type OneShotWatchSource,
  type ReadResult,
  rearm,
  type RearmOptions,
  type RetryOptions,
  type ViewState,
  type ViewStats,
  WatchedView,
  type WatchEvent,
} from './view.js';
