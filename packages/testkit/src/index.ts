export { run } from './exec.js';
export { missingForNetns, withNetns, type Netns, type Rule } from './netns.js';
export {
  behave,
  connectPeer,
  listenPeer,
  type Behaviour,
  type Peer,
  type PeerServer,
} from './peers.js';
export { freePort, waitFor } from './ports.js';
export {
  countTcpStates,
  ownSocketInodes,
  parseProcNetTcp,
  TCP_STATES,
  tcpSockets,
  type CountOptions,
  type TcpSocketRow,
  type TcpState,
  type TcpStateCounts,
} from './tcp-states.js';
export {
  fourLetterWord,
  missingForZooKeeper,
  startZooKeeper,
  type ZooKeeperOptions,
  type ZooKeeperServer,
} from './zookeeper.js';
export { leakSnapshot, assertNoLeaks, type LeakSnapshot } from './leaks.js';
export {
  hostileOptions,
  hostileValue,
  isOptionError,
  misbehave,
  misbehaviour,
  type Misbehaviour,
} from './hostile.js';
export {
  missingForRedis,
  redisCommand,
  startRedis,
  type RedisOptions,
  type RedisServer,
} from './redis.js';
export {
  missingForPostgres,
  startPostgres,
  type PostgresOptions,
  type PostgresServer,
} from './postgres.js';
