import { channels as make } from '@halfopen/internal';

/**
 * `halfopen:epochs-redis:<event>` channels; each message names the peer, the epochs and the instances.
 * - `sent`: this instance opened a peer's connection and broadcast the supersede
 *   `{ peer, epoch, instance, previous: { instance, epoch } | undefined }`.
 * - `received`: a supersede arrived from Redis `{ peer, epoch, from, instance }`.
 * - `applied`: a local connection was revoked because a newer one exists
 *   `{ peer, oldEpoch, epoch, instance, owner, reason: 'open' | 'broadcast' | 'reconcile' }`.
 * - `lost`: reconciliation found a connection superseded while Redis was away (its broadcast
 *   was lost) `{ peer, oldEpoch, epoch, instance, owner }`.
 * - `reconciled`: one reconciliation finished `{ instance, checked, kept, claimed, revoked }`.
 * - `malformed`: a pub/sub payload that is not a supersede, counted and dropped `{ instance, reason, payload }`.
 * - `unavailable`: a round trip failed or timed out `{ instance, peer, op, error }`.
 * - `error`: an `onSupersede` (or the default `destroy()`) failed `{ peer, instance, error }`.
 */
export const channels = make('epochs-redis', [
  'sent',
  'received',
  'applied',
  'lost',
  'reconciled',
  'malformed',
  'unavailable',
  'error',
]);
