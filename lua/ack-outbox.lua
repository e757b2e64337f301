--[[
  ack-outbox — acknowledge outbox entries the ledger has committed, and remove from the
  stream every entry no consumer needs any more, in one step.

  KEYS[1]   outbox stream     <prefix>:{p<n>}:outbox
  ARGV[1]   the consumer group (the flusher's; the stream has no other)
  ARGV[2..] ids of the entries committed

  XACK, then:
  - nothing left pending in the group (the usual case): every entry up to the last one
    delivered is acknowledged, so one XTRIM MINID removes them all: no XDEL per entry;
  - an entry still pending (another job's batch in flight, or a dead worker's waiting for
    XAUTOCLAIM): XTRIM MINID at the oldest such entry (everything below it is acknowledged),
    and XDEL the committed entries above it.
  Either way the stream holds exactly the entries not yet committed, as with XDEL alone:
  its length, its oldest entry and the reconciler's watermark read what is left to flush.

  Reply: the number of entries acknowledged.
]]
local key, group = KEYS[1], ARGV[1]
-- The stream vanished (Redis lost its data): nothing left to acknowledge or remove.
if redis.call('EXISTS', key) == 0 then return 0 end

-- In slices: unpack() of many thousands of ids would overflow Lua's stack.
local SLICE = 1000
local acked = 0
for first = 2, #ARGV, SLICE do
  acked = acked + redis.call('XACK', key, group, unpack(ARGV, first, math.min(first + SLICE - 1, #ARGV)))
end

local pending = redis.call('XPENDING', key, group)
if pending[1] == 0 then
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local fields = {}
    for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
    if fields.name == group then
      redis.call('XTRIM', key, 'MINID', fields['last-delivered-id'])
      redis.call('XDEL', key, fields['last-delivered-id'])
    end
  end
else
  redis.call('XTRIM', key, 'MINID', pending[2])
  for first = 2, #ARGV, SLICE do
    redis.call('XDEL', key, unpack(ARGV, first, math.min(first + SLICE - 1, #ARGV)))
  end
end
return acked
