--[[
  refund — give back a charge that consume took outright (its refund section): the upstream
  failed. Each line gives its amount back (the grants it drew first, never below 0) with a
  `refund` event. At most once per request: the refund record is then marked refunded, so a
  retry after a lost reply changes nothing.

  KEYS[1]      outbox stream              <prefix>:{p<n>}:outbox
  KEYS[2]      refund record              <prefix>:{p<n>}:rf:<subject>|<request id>
               (JSON {d = {draws of line 1, ...}} when the charge drew grants; 'refunded' once done;
               'void' once void.lua gave the decision back)
  KEYS[1+2j]   usage of line j (the period it was charged in)
  KEYS[2+2j]   grants of line j

  ARGV[1]  the request, JSON (src/redis/scripts/refund.ts builds it):
    now      ms
    subject  subject id
    id       request id: the refund's events are <id>:r:<n>
    ttl      refund record TTL, ms
    lines    per line j, as the consume charged them: {metric, period = start ms as a
             string ('' for gauges), amount}
  ARGV[2]  context JSON stored verbatim with every event (as the consume's)

  Reply:
    {1}            REFUNDED
    {9}            NOT_FOUND: already refunded, or voided
    {5, j, ...}    NEEDS_HYDRATION: line j's usage (j) or grants (-j) key is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"
--- @include "usage"

local request = cjson.decode(ARGV[1])
local now, subject, id, lines = request.now, request.subject, request.id, request.lines

local record = redis.call('GET', KEYS[2])
if record == 'refunded' or record == 'void' then return { 9 } end
local draws = record and cjson.decode(record).d or {}

local missing = {}
for j = 1, #lines do
  if redis.call('EXISTS', KEYS[1 + 2 * j]) == 0 then missing[#missing + 1] = j end
  if draws[j] and #draws[j] > 0 and redis.call('EXISTS', KEYS[2 + 2 * j]) == 0 then missing[#missing + 1] = -j end
end
if #missing > 0 then return { 5, unpack(missing) } end

local ob = new_outbox(KEYS[1], id .. ':r', subject, now, ARGV[2])
for j, line in ipairs(lines) do
  if line.amount > 0 then
    local after, restored, given = usage_give(KEYS[1 + 2 * j], KEYS[2 + 2 * j], draws[j] or {}, line.amount, 0)
    emit(ob, 'refund', line.metric, line.period, -given, after, { request = id, restored = restored })
  end
end
redis.call('SET', KEYS[2], 'refunded', 'PX', request.ttl)
return { 1 }
