export {
  ConnectionEpochs,
  type ConnectionEpochsEvents,
  type ConnectionEpochsOptions,
} from './epochs.js';
export {
  channels,
  type Message,
  type RejectDetail,
  type RejectReason,
  type RoundTrip,
  SkewGuard,
  type SkewGuardOptions,
  type Verdict,
} from './guard.js';
