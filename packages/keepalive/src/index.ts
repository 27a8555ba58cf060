export {
  type ConnectOptions,
  connect,
  DEFAULT_KEEPALIVE,
  isRetryableConnectError,
  type RetryOptions,
} from './connect.js';
export {
  ConnectClosedError,
  ConnectTimeoutError,
  KeepAliveError,
  type KeepAliveErrorCode,
  KeepAliveFailedError,
  KeepAliveUnsupportedError,
} from './errors.js';
export {
  detectionTimeMs,
  diagnostics,
  type KeepAliveReport,
  type KeepAliveServerHandle,
  type KeepAliveSettings,
  keepAliveServer,
  keepAliveSupport,
  setKeepAlive,
} from './keepalive.js';
