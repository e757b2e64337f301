--[[
  release — lower a gauge (a project was deleted). Never below 0 and never needs quota.
  With an idempotency fingerprint, a repeat of the same release answers its first reply.

  KEYS[1]  outbox stream
  KEYS[2]  gauge level            <prefix>:{p<n>}:g:<subject>|<metric>
  KEYS[3]  idempotency record     (any key of the partition when there is no idempotency key)

  ARGV[1]  now, ms
  ARGV[2]  subject id
  ARGV[3]  event id base (events are <base>:<n>)
  ARGV[4]  metric
  ARGV[5]  amount
  ARGV[6]  context JSON stored with the event
  ARGV[7]  idempotency fingerprint ('' = none)
  ARGV[8]  idempotency record TTL, ms

  Reply:
    {1, level_after, released}    RELEASED (released < amount when the level hit 0)
    {5, 1}                        NEEDS_HYDRATION: the gauge key is missing
    {6, reply_json, '', request_id} / {7} / {8}   as consume: replayed, mismatch, in flight
]]
--- @include "util"
--- @include "outbox"
--- @include "idempotency"

local now, subject, metric = tonumber(ARGV[1]), ARGV[2], ARGV[4]
local amount, fingerprint = tonumber(ARGV[5]), ARGV[7]

if fingerprint ~= '' then
  local known = idem_lookup(KEYS[3], fingerprint)
  if known then return known end
end
if redis.call('EXISTS', KEYS[2]) == 0 then return { 5, 1 } end

local level = to_int(redis.call('GET', KEYS[2]))
local released = math.min(amount, level)
local after = redis.call('DECRBY', KEYS[2], fmt_int(released))
if released > 0 then
  emit(new_outbox(KEYS[1], ARGV[3], subject, now, ARGV[6]), 'release', metric, '', -released, after,
       { requested = amount })
end
local result = { 1, after, released }
if fingerprint ~= '' then idem_decided(KEYS[3], fingerprint, result, tonumber(ARGV[8]), ARGV[3]) end
return result
