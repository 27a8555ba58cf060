export { channels } from './diagnostics.js';
export {
  FleetEpochs,
  type FleetEpochsOptions,
  type FleetEpochsStats,
  MAX_PEER_LENGTH,
  type OpenOptions,
  type Owner,
  type RedisClient,
  type RedisSubscriber,
  type Revocation,
  type RevokeReason,
} from './epochs.js';
export { codes, EpochsRedisError } from './errors.js';
