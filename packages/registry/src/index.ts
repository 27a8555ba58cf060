export { channels } from './diagnostics.js';
export { QueueOverflowError, RegistryError, TopicClosedError } from './errors.js';
export {
  type Delivery,
  type Listener,
  type SubscribeOptions,
  type Subscription,
  Topic,
  type TopicOptions,
} from './topic.js';
