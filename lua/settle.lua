--[[
  settle — end a hold with the actual amounts: below the held amount gives the difference
  back (grant draws first), above it charges the rest without a limit check (the work is
  done) and records what went beyond limit + grants as overage. Lines without an actual
  keep their held amount. Frees the lease and completes the idempotency record.

  KEYS[1..5], KEYS[4+2j], KEYS[5+2j]   as in includes/hold.lua

  ARGV[1]  now, ms
  ARGV[2]  subject id
  ARGV[3]  event id base (events are <base>:<n>)
  ARGV[4]  hold id
  ARGV[5]  idempotency record TTL, ms
  ARGV[6]  upstream response to store with the idempotency record ('' = none)
  ARGV[7]  number of lines n; then 2 values per line j, from ARGV[8 + 2(j-1)]:
           actual ('' = keep the held amount), limit ('-1' = unlimited)

  Reply:
    {1, used_1, grants_1, ..., used_n, grants_n}   SETTLED (per line, in hold order)
    {9}            NOT_FOUND: the hold was already settled, released or expired
    {5, j, ...}    NEEDS_HYDRATION: line j's usage (j) or grants (-j) key is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"
--- @include "usage"
--- @include "hold"

local now, subject, id = tonumber(ARGV[1]), ARGV[2], ARGV[4]
local idem_ttl, response, n = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])

local hold = hold_load(n)
if not hold then return { 9 } end
local actuals, limits = {}, {}
for j = 1, n do
  actuals[j] = tonumber(ARGV[8 + 2 * (j - 1)])
  limits[j] = tonumber(ARGV[9 + 2 * (j - 1)])
end
local needs_grants = {}
for j = 1, n do needs_grants[j] = limits[j] >= 0 end
local missing = hold_missing(hold, needs_grants)
if #missing > 0 then return { 5, unpack(missing) } end

local ob = new_outbox(KEYS[1], ARGV[3], subject, now, hold.x)
for j, line in ipairs(hold.l) do
  local actual = actuals[j]
  if actual then
    local key, grants_key = KEYS[4 + 2 * j], KEYS[5 + 2 * j]
    local delta = actual - line.a
    local meta = { hold = id, held = line.a, actual = actual }
    if delta > 0 then
      local used = to_int(redis.call('GET', key))
      local grants = (limits[j] >= 0) and grants_usable(grants_key, now) or {}
      local after, draws, overage = usage_take(line.k, key, grants_key, grants, used, limits[j], delta, 0)
      meta.draws, meta.overage = draws, overage
      emit(ob, 'settle', line.m, line.p, delta, after, meta)
    elseif delta < 0 then
      local after, restored, given = usage_give(key, grants_key, line.d, -delta, 0)
      meta.restored = restored
      emit(ob, 'settle', line.m, line.p, -given, after, meta)
    end
  end
end

if hold.i ~= '' and redis.call('HGET', KEYS[5], 'h') == id then
  redis.call('HSET', KEYS[5], 'st', 'd', 'r', hold.r, 'b', response)
  redis.call('PEXPIRE', KEYS[5], idem_ttl)
end
hold_end(hold, subject, id)
return hold_usage_reply(hold, now)
