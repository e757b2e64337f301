--[[
  reset — set the current period's counters of one subject to 0 (an operator's reset). Each
  metric gets a 'reset' event whose delta takes the ledger back to 0 and whose extra carries
  the previous value.

  KEYS[1]    outbox stream
  KEYS[1+i]  counter of metric i for the current period

  ARGV[1]  now, ms
  ARGV[2]  subject id
  ARGV[3]  event id base (events are <base>:<n>)
  ARGV[4]  context JSON stored with the events (actor, reason)
  ARGV[5]  number of metrics n; then 3 values per metric i, from ARGV[6 + 3(i-1)]:
           name, period start ms, counter TTL ms (on Redis's clock)

  Reply:
    {1, previous_1, ..., previous_n}   RESET
    {5, i, ...}                        NEEDS_HYDRATION: metric i's counter is missing (its
                                       previous value must come from the ledger first)
]]
--- @include "util"
--- @include "outbox"

local now, subject, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[5])

local missing = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[1 + i]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then return { 5, unpack(missing) } end

local ob = new_outbox(KEYS[1], ARGV[3], subject, now, ARGV[4])
local result = { 1 }
for i = 1, n do
  local a = 6 + 3 * (i - 1)
  local previous = to_int(redis.call('GET', KEYS[1 + i]))
  redis.call('SET', KEYS[1 + i], '0', 'PX', ARGV[a + 2])
  emit(ob, 'reset', ARGV[a], ARGV[a + 1], -previous, 0, { previous = previous })
  result[#result + 1] = previous
end
return result
