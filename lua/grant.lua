--[[
  grant — add bonus credit of one metric for one subject, optionally expiring. Counter
  grants are drawn once the plan allowance is used up, earliest expiry first; gauge grants
  raise the ceiling while they last.

  KEYS[1]  outbox stream
  KEYS[2]  grants hash             <prefix>:{p<n>}:gr:<subject>|<metric>

  ARGV[1]  now, ms
  ARGV[2]  subject id
  ARGV[3]  event id base (events are <base>:<n>)
  ARGV[4]  metric
  ARGV[5]  grant id
  ARGV[6]  amount
  ARGV[7]  expires at, ms ('0' = never)
  ARGV[8]  context JSON stored with the event (actor, reason)

  Reply:
    {1, balance}     GRANTED: usable grant balance of the metric afterwards
    {11, balance}    EXISTS: a grant with this id is already there (nothing changed)
    {5, -1}          NEEDS_HYDRATION: the grants hash is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"

local now, subject, metric, grant_id = tonumber(ARGV[1]), ARGV[2], ARGV[4], ARGV[5]
local amount, expires = tonumber(ARGV[6]), tonumber(ARGV[7])

if redis.call('EXISTS', KEYS[2]) == 0 then return { 5, -1 } end
if redis.call('HEXISTS', KEYS[2], grant_id) == 1 then
  return { 11, grants_total(grants_usable(KEYS[2], now)) }
end
redis.call('HSET', KEYS[2], grant_id, fmt_int(amount) .. ':' .. fmt_int(expires))
local balance = grants_total(grants_usable(KEYS[2], now))
emit(new_outbox(KEYS[1], ARGV[3], subject, now, ARGV[8]), 'grant', metric, '', 0, balance,
     { grant = grant_id, amount = amount, expires_at = expires })
return { 1, balance }
