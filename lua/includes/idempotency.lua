--[[
  idempotency — one record per (subject, Idempotency-Key), a hash:
    fp  request fingerprint        st  'f' in flight (hold open) | 'd' decided
    r   the original reply (JSON)  b   stored upstream response ('' if none)
    h   the id of the request that made the record (and of its hold)

  idem_lookup(key, fp) -> nil when there is no record, else the reply to return:
    {6, reply_json, response, request_id}  replayed
    {7}                        same key, different request (mismatch)
    {8}                        same key, first request still in flight
  idem_decided(key, fp, reply, ttl_ms, id) records a final decision made by request `id`.
]]
local function idem_lookup(key, fp)
  local rec = redis.call('HMGET', key, 'fp', 'st', 'r', 'b', 'h')
  if not rec[1] then return nil end
  if rec[1] ~= fp then return { 7 } end
  if rec[2] ~= 'd' then return { 8 } end
  return { 6, rec[3], rec[4] or '', rec[5] or '' }
end

local function idem_decided(key, fp, reply, ttl_ms, id)
  redis.call('HSET', key, 'fp', fp, 'st', 'd', 'r', cjson.encode(reply), 'h', id)
  redis.call('PEXPIRE', key, ttl_ms)
end
