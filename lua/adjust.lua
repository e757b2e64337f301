--[[
  adjust — an operator's manual correction of one metric's usage, up or down, never below 0.

  KEYS[1]  outbox stream
  KEYS[2]  usage key (counter of the current period, or gauge level)

  ARGV[1]  now, ms
  ARGV[2]  subject id
  ARGV[3]  event id base (events are <base>:<n>)
  ARGV[4]  metric
  ARGV[5]  period start ms ('' for gauges)
  ARGV[6]  delta (may be negative)
  ARGV[7]  usage TTL ms on Redis's clock ('0' = none)
  ARGV[8]  context JSON stored with the event (actor, reason)

  Reply:
    {1, value_after, applied_delta}   ADJUSTED (applied_delta differs from delta when floored at 0)
    {5, 1}                            NEEDS_HYDRATION: the usage key is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "usage"

local now, subject, metric, period = tonumber(ARGV[1]), ARGV[2], ARGV[4], ARGV[5]
local delta, ttl_ms = tonumber(ARGV[6]), tonumber(ARGV[7])

if redis.call('EXISTS', KEYS[2]) == 0 then return { 5, 1 } end
local used = to_int(redis.call('GET', KEYS[2]))
local applied = math.max(delta, -used)
local after = redis.call('INCRBY', KEYS[2], fmt_int(applied))
usage_set_expiry(KEYS[2], ttl_ms)
emit(new_outbox(KEYS[1], ARGV[3], subject, now, ARGV[8]), 'adjust', metric, period, applied, after,
     { requested = delta })
return { 1, after, applied }
