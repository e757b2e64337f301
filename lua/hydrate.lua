--[[
  hydrate — put usage values and grant balances loaded from the ledger back into Redis,
  only where the key is still missing, so concurrent gateways hydrating the same subject
  agree on one value (the first writer wins) and a live counter is never overwritten.

  KEYS[i]  a usage key (counter or gauge) or a grants hash

  ARGV[1]  number of keys n; then 3 values per key i, from ARGV[2 + 3(i-1)]:
           type ('v' = usage value | 'g' = grants), data, TTL ms on Redis's clock ('0' = none)
           data: the integer value for 'v'; for 'g' a JSON object
                 {grant id: '<remaining>:<expires_at ms>'} (may be empty)

  Reply:
    {1, written}   how many keys were missing and are now written
]]
--- @include "util"

local n, written = tonumber(ARGV[1]), 0
for i = 1, n do
  local a = 2 + 3 * (i - 1)
  local key, kind, data, ttl_ms = KEYS[i], ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  if redis.call('EXISTS', key) == 0 then
    if kind == 'v' then
      redis.call('SET', key, data)
    else
      redis.call('HSET', key, '_h', '1')
      for id, value in pairs(cjson.decode(data)) do redis.call('HSET', key, id, value) end
    end
    if ttl_ms > 0 then redis.call('PEXPIRE', key, ttl_ms) end
    written = written + 1
  end
end
return { 1, written }
