export {
  type ConnectOptions,
  connect,
  DEFAULT_KEEPALIVE,
  isRetryableConnectError,
  type RetryOptions,
} from './connect.js';
export { ConnectTimeoutError, KeepAliveError, KeepAliveUnsupportedError } from './errors.js';
export {
  detectionTimeMs,
  type KeepAliveReport,
  type KeepAliveSettings,
  keepAliveServer,
  keepAliveSupport,
  setKeepAlive,
} from './keepalive.js';
