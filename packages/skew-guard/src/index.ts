export { channels } from './diagnostics.js';
export { ConnectionEpochs, type ConnectionEpochsOptions } from './epochs.js';
export {
  MAX_PEER_ID_LENGTH,
  type Message,
  type RejectDetail,
  type RejectReason,
  type RoundTrip,
  SkewGuard,
  type SkewGuardOptions,
  type Verdict,
} from './guard.js';
