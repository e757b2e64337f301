--[[
  repair — reconciliation found a usage key behind the ledger: add what it is missing. An
  addition (not a SET) stays right however many decisions ran since the comparison; a key
  that has expired or been evicted meanwhile is left to hydration.

  KEYS[1]  usage key     <prefix>:{p<n>}:u:<subject>|<metric>|<period> or :g:<subject>|<metric>

  ARGV[1]  units to add (> 0)

  Reply:
    {1, value}   REPAIRED: the value afterwards
    {9}          NOT_FOUND: the key is missing (nothing written)
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return { 9 } end
return { 1, redis.call('INCRBY', KEYS[1], ARGV[1]) }
