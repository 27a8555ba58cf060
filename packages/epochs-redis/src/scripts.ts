// The Lua scripts: each call is one atomic Redis operation and one round trip. One hash per peer,
// `<prefix><peer>` = { epoch, instance, since }. `epoch` is never deleted, so a peer's epochs
// only increase; `instance` and `since` go when the owner closes.
//
// Epochs are max(stored + 1, Redis TIME in microseconds): strictly increasing per peer, and
// still higher than any epoch handed out before a restart of a Redis that kept nothing
// (`--save ''`), as long as the Redis host's clock does not step back across the restart.
// Numbers stay below 2^53 (about 1.7e15 today), exact in Lua's doubles and in JavaScript.
// The supersede payload is built here from a prefix the caller encoded (JSON) and the epoch, so
// no cjson rounding touches the epoch.

/**
 * KEYS[1] peer key; ARGV instance, since, deadline (ms), channel, payload prefix, generation
 * ('' for none). A generation lower than the owner's (the peer says this connection is older
 * than the one that owns it: its opens reached Redis out of order) changes nothing and answers
 * {'-2', owner epoch, owner instance, owner generation}.
 */
export const OPEN = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[3]) then return {'-1', string.format('%.0f', now), ''} end
local prev = redis.call('HMGET', KEYS[1], 'epoch', 'instance', 'gen')
local owned = tonumber(prev[3])
if ARGV[6] ~= '' and prev[2] and owned and tonumber(ARGV[6]) < owned then
  return {'-2', prev[1], prev[2], prev[3]}
end
local stored = tonumber(prev[1]) or 0
local e = string.format('%.0f', math.max(stored + 1, tonumber(t[1]) * 1000000 + tonumber(t[2])))
redis.call('HSET', KEYS[1], 'epoch', e, 'instance', ARGV[1], 'since', ARGV[2], 'gen', ARGV[6])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. e .. '}')
return {e, prev[1] or '', prev[2] or ''}`;

/** KEYS[1] peer key; ARGV instance, epoch. Forgets the owner only if it is still this one. */
export const CLOSE = `local cur = redis.call('HMGET', KEYS[1], 'epoch', 'instance')
if cur[1] == ARGV[2] and cur[2] == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'instance', 'since', 'gen')
  return 1
end
return 0`;

/** KEYS[1] peer key. */
export const OWNER = `return redis.call('HMGET', KEYS[1], 'epoch', 'instance', 'since')`;

/**
 * KEYS peer keys; ARGV instance, channel, since, then per key: this instance's epoch and the
 * payload prefix. Highest epoch wins: a higher stored epoch means this instance lost ('lost');
 * its own record is 'kept'; a lower or missing one (Redis restarted) is claimed and broadcast.
 * A claim clears `gen` (the stored one is the previous owner's; this instance does not send its
 * own): OPEN then compares no generation, as after an open without one.
 */
export const RECONCILE = `local out = {}
for i = 1, #KEYS do
  local mine = ARGV[2 + 2 * i]
  local cur = redis.call('HMGET', KEYS[i], 'epoch', 'instance')
  local stored = tonumber(cur[1]) or 0
  local m = tonumber(mine)
  if stored > m then
    out[i] = {'lost', cur[1], cur[2] or ''}
  elseif stored == m and cur[2] == ARGV[1] then
    out[i] = {'kept', mine, ARGV[1]}
  else
    redis.call('HSET', KEYS[i], 'epoch', mine, 'instance', ARGV[1], 'since', ARGV[3], 'gen', '')
    redis.call('PUBLISH', ARGV[2], ARGV[3 + 2 * i] .. mine .. '}')
    out[i] = {'claimed', mine, ARGV[1]}
  end
end
return out`;

/** The supersede payload without its epoch and closing brace (the scripts append those). */
export function payloadPrefix(peer: string, instance: string, since: number): string {
  return `{"v":1,"peer":${JSON.stringify(peer)},"instance":${JSON.stringify(instance)},"since":${since},"epoch":`;
}
