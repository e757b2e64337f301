--[[
  settle — end a hold with the actual amounts: below the held amount gives the difference
  back (grant draws first), above it charges the rest without a limit check (the work is
  done) and records what went beyond limit + grants as overage. Lines without an actual
  keep their held amount. Frees the lease and completes the idempotency record.

  KEYS[1..5], KEYS[4+2j], KEYS[5+2j]   as in includes/hold.lua

  ARGV[1]  the request, JSON (src/redis/scripts/settle.ts builds it):
    now        ms
    subject    subject id
    event_id   event id base (events are <event_id>:<n>)
    hold       hold id
    idem_ttl   idempotency record TTL, ms
    lines      per hold line j, in hold order: {actual (absent = keep the held amount),
               limit (-1 = unlimited)}
  ARGV[2]  upstream response to store with the idempotency record ('' = none)

  Reply:
    {1, used_1, grants_1, ..., used_n, grants_n}   SETTLED (per line, in hold order)
    {9}            NOT_FOUND: the hold was already settled, returned or expired
    {5, j, ...}    NEEDS_HYDRATION: line j's usage (j) or grants (-j) key is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"
--- @include "usage"
--- @include "hold"

local request = cjson.decode(ARGV[1])
local now, subject, id, response = request.now, request.subject, request.hold, ARGV[2]

local hold = hold_load(#request.lines)
if not hold then return { 9 } end
local needs_grants = {}
for j, line in ipairs(request.lines) do needs_grants[j] = line.limit >= 0 end
local missing = hold_missing(hold, needs_grants)
if #missing > 0 then return { 5, unpack(missing) } end

local ob = new_outbox(KEYS[1], request.event_id, subject, now, hold.x)
for j, line in ipairs(hold.l) do
  local actual, limit = request.lines[j].actual, request.lines[j].limit
  if actual then
    local key, grants_key = KEYS[4 + 2 * j], KEYS[5 + 2 * j]
    local delta = actual - line.a
    local meta = { hold = id, held = line.a, actual = actual }
    if delta > 0 then
      local used = to_int(redis.call('GET', key))
      local grants = (limit >= 0) and grants_usable(grants_key, now) or {}
      local after, draws, overage = usage_take(line.k, key, grants_key, grants, used, limit, delta, 0)
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
  redis.call('PEXPIRE', KEYS[5], request.idem_ttl)
end
hold_end(hold, subject, id)
return hold_usage_reply(hold, now)
