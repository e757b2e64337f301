--[[
  revoke-grant — remove a grant; what is left of it is no longer usable.

  KEYS[1]  outbox stream
  KEYS[2]  grants hash             <prefix>:{p<n>}:gr:<subject>|<metric>

  ARGV[1]  now, ms
  ARGV[2]  subject id
  ARGV[3]  event id base (events are <base>:<n>)
  ARGV[4]  metric
  ARGV[5]  grant id
  ARGV[6]  context JSON stored with the event (actor, reason)

  Reply:
    {1, remaining, balance}   REVOKED: what was left of the grant, usable balance afterwards
    {9}                       NOT_FOUND
    {5, -1}                   NEEDS_HYDRATION: the grants hash is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"

local now, subject, metric, grant_id = tonumber(ARGV[1]), ARGV[2], ARGV[4], ARGV[5]

if redis.call('EXISTS', KEYS[2]) == 0 then return { 5, -1 } end
local value = redis.call('HGET', KEYS[2], grant_id)
if not value then return { 9 } end
local remaining = grants_parse(value)
redis.call('HDEL', KEYS[2], grant_id)
local balance = grants_total(grants_usable(KEYS[2], now))
emit(new_outbox(KEYS[1], ARGV[3], subject, now, ARGV[6]), 'grant_revoke', metric, '', 0, balance,
     { grant = grant_id, remaining = remaining })
return { 1, remaining, balance }
