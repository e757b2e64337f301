--[[
  hydrate — put usage values and grant balances loaded from the ledger back into Redis,
  only where the key is still missing, so concurrent gateways hydrating the same subject
  agree on one value (the first writer wins) and a live counter is never overwritten.

  KEYS[i]  a usage key (counter or gauge) or a grants hash

  ARGV[1]  JSON, one entry per key i (src/redis/scripts/hydrate.ts builds it), either
             {value = the usage value, ttl = ms on Redis's clock (0 = none)}  for a usage key
           or {grants = {grant id: '<remaining>:<expires_at ms>', ...}}     for a grants hash

  Reply:
    {1, written}   how many keys were missing and are now written
]]
--- @include "util"

local written = 0
for i, entry in ipairs(cjson.decode(ARGV[1])) do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 0 then
    if entry.grants then
      redis.call('HSET', key, '_h', '1')
      for id, value in pairs(entry.grants) do redis.call('HSET', key, id, value) end
    else
      redis.call('SET', key, fmt_int(entry.value))
      if entry.ttl > 0 then redis.call('PEXPIRE', key, fmt_int(entry.ttl)) end
    end
    written = written + 1
  end
end
return { 1, written }
