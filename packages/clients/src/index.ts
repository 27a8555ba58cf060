export {
  Agent,
  type AgentOptions,
  type AgentStats,
  HttpsAgent,
  type HttpsAgentOptions,
} from './agent.js';
export type { DialOptions } from './dial.js';
export { channels } from './diagnostics.js';
export { AgentDestroyedError, ClientsError, type ClientsErrorCode } from './errors.js';
export {
  type UndiciConnectOptions,
  type UndiciConnector,
  type UndiciConnectorOptions,
  type UndiciConnectorStats,
  undiciConnector,
} from './undici.js';
export { type PgStreamFactory, type PgStreamOptions, type PgStreamStats, pgStream } from './pg.js';
export {
  type GuardRedisOptions,
  type GuardRedisStats,
  guardRedis,
  type RedisGuard,
  type RedisLike,
} from './ioredis.js';
