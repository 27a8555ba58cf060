export {
  channels,
  diffMembers,
  type OneShotWatchSource,
  rearm,
  type RearmOptions,
  type RetryOptions,
  type ViewState,
  type ViewStats,
  WatchedView,
  type WatchEvent,
} from './view.js';
