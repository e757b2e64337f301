--[[
  snapshot — a subject's usage values and its partition outbox's last generated entry id,
  read in one atomic step for reconciliation: every event that moved these values so far
  has an id at or below it, every later event an id above it, so the ledger can be
  compared as of exactly this point.

  KEYS[1]     outbox stream     <prefix>:{p<n>}:outbox
  KEYS[1+i]   usage key i       <prefix>:{p<n>}:u:<subject>|<metric>|<period> or :g:<subject>|<metric>

  ARGV        none

  Reply:
    {1, watermark, v_1, ..., v_n}
        watermark: the stream's last generated id ('0-0' when the stream does not exist);
        v_i: the value of usage key i, or -1 when the key is missing
]]
local watermark = '0-0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then watermark = info[i + 1] end
  end
end
local reply = { 1, watermark }
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  reply[#reply + 1] = value and tonumber(value) or -1
end
return reply
