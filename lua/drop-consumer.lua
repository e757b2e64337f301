--[[
  drop-consumer — remove a dead worker's consumer from an outbox stream's group, but only
  while it holds no pending entry: XGROUP DELCONSUMER alone would drop its pending entries
  from the group, and they would never be delivered again. Checked and removed in one step,
  so an entry it read meanwhile (it was alive after all) is never lost; a live consumer that
  reads again is simply recreated by XREADGROUP.

  KEYS[1]   outbox stream     <prefix>:{p<n>}:outbox
  ARGV[1]   the consumer group
  ARGV[2]   the consumer

  Reply: 1 removed, 0 kept (it still has pending entries, or there is no such consumer)
]]
local key, group, consumer = KEYS[1], ARGV[1], ARGV[2]
if redis.call('EXISTS', key) == 0 then return 0 end
if #redis.call('XPENDING', key, group, '-', '+', 1, consumer) > 0 then return 0 end
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', key, group)) do
  if info[2] == consumer then
    redis.call('XGROUP', 'DELCONSUMER', key, group, consumer)
    return 1
  end
end
return 0
