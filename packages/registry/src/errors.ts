import { HalfopenError } from '@halfopen/internal';

/** Base class of every error this package throws or reports; match on `code`. */
export class RegistryError extends HalfopenError {
  override name = 'RegistryError';
  declare readonly code: 'HALFOPEN_ERR_TOPIC_CLOSED' | 'HALFOPEN_ERR_QUEUE_OVERFLOW';
  constructor(code: RegistryError['code'], message: string) {
    super(code, message);
  }
}

/** publish() or subscribe() on a closed topic. */
export class TopicClosedError extends RegistryError {
  override name = 'TopicClosedError';
  constructor(topic: string) {
    super('HALFOPEN_ERR_TOPIC_CLOSED', `topic ${topic} is closed`);
  }
}

/** A `{ queue, overflow: 'error' }` subscriber fell more than `queue` versions behind; it was unsubscribed. */
export class QueueOverflowError extends RegistryError {
  override name = 'QueueOverflowError';
  constructor(
    topic: string,
    readonly limit: number,
    readonly deliveredVersion: number,
    readonly publishedVersion: number,
  ) {
    super(
      'HALFOPEN_ERR_QUEUE_OVERFLOW',
      `a subscriber of topic ${topic} fell more than ${limit} versions behind (delivered ${deliveredVersion}, published ${publishedVersion}) and was unsubscribed`,
    );
  }
}
