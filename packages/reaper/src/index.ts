export { channels } from './diagnostics.js';
export { ReaperError, type ReaperErrorCode } from './errors.js';
export {
  ConnectionMap,
  type ConnectionMapEvents,
  type ConnectionMapOptions,
  type ConnectionMapStats,
  type Lease,
  type ReapInfo,
  type ReapReason,
} from './map.js';
