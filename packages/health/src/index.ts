export {
  eventLoopCheck,
  type EventLoopOptions,
  type GuardLike,
  type LockCheckOptions,
  type LockLike,
  lockCheck,
  Progress,
  type ProgressCheckOptions,
  progress,
  progressCheck,
  type ServerGuardCheckOptions,
  serverGuardCheck,
  type TopicCheckOptions,
  type TopicLike,
  topicCheck,
  type ViewCheckOptions,
  type ViewLike,
  viewCheck,
} from './checks.js';
export { channels } from './diagnostics.js';
export { HealthError, type HealthErrorCode } from './errors.js';
export { type HandlerOptions, healthHandler, type Reporter } from './handler.js';
export {
  type AddOptions,
  type Check,
  type CheckContext,
  type CheckResult,
  type CheckState,
  type CheckStatus,
  type Evidence,
  Health,
  type HealthOptions,
  type HealthReport,
  type Probe,
} from './health.js';
