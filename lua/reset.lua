--[[
  reset — set the current period's counters of one subject to 0 (an operator's reset). Each
  metric gets a 'reset' event whose delta takes the ledger back to 0 and whose extra carries
  the previous value.

  KEYS[1]    outbox stream
  KEYS[1+i]  counter of metric i for the current period

  ARGV[1]  the request, JSON (src/redis/scripts/reset.ts builds it):
    now       ms
    subject   subject id
    event_id  event id base (events are <event_id>:<n>)
    metrics   per metric i: {name, period = start ms as a string, ttl = counter TTL ms on
              Redis's clock}
  ARGV[2]  context JSON stored verbatim with the events (actor, reason)

  Reply:
    {1, previous_1, ..., previous_n}   RESET
    {5, i, ...}                        NEEDS_HYDRATION: metric i's counter is missing (its
                                       previous value must come from the ledger first)
]]
--- @include "util"
--- @include "outbox"

local request = cjson.decode(ARGV[1])
local now, subject, metrics = request.now, request.subject, request.metrics

local missing = {}
for i = 1, #metrics do
  if redis.call('EXISTS', KEYS[1 + i]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then return { 5, unpack(missing) } end

local ob = new_outbox(KEYS[1], request.event_id, subject, now, ARGV[2])
local result = { 1 }
for i, m in ipairs(metrics) do
  local previous = to_int(redis.call('GET', KEYS[1 + i]))
  redis.call('SET', KEYS[1 + i], '0', 'PX', fmt_int(m.ttl))
  emit(ob, 'reset', m.name, m.period, -previous, 0, { previous = previous })
  result[#result + 1] = previous
end
return result
