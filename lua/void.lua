--[[
  void — give back a decision whose answer reached its caller too late (the command timed
  out, the connection broke): the caller answered 503 "not charged", so whatever consume
  applied under this request id is undone, and a consume that has not run yet never will.
  Idempotent: any number of calls give back at most once.

  Reads the request's refund record, which consume writes for every applied request when
  called with a void_ttl:
    absent      consume has not run (or decided nothing: a denial, a replay): the record is
                set to 'void' for ARGV ttl, so a consume arriving later refuses (EXPIRED).
    'void'      already voided; 'refunded': refund.lua already gave the charge back.
    JSON        consume applied: every line charged outright, and every held line while the
                hold is still open, gives its amount back (grant draws first, never below 0)
                with a `refund` event {request, void = true}; the hold, its deadline entry
                and lease end; an idempotency record made by this request is deleted (a retry
                is decided afresh). The record becomes 'void'.

  KEYS[1..5]   as in includes/hold.lua: outbox, hold deadlines, hold, leases, idempotency
               record (the partition's unused key where the request had no hold / no key)
  KEYS[4+2j]   usage of line j (the period it was charged in)
  KEYS[5+2j]   grants of line j
  KEYS[6+2n]   refund record              <prefix>:{p<n>}:rf:<subject>|<request id>

  ARGV[1]  the request, JSON (src/redis/scripts/void.ts builds it):
    now      ms
    subject  subject id
    id       the consume's request id: the void's events are <id>:v:<n>
    ttl      how long the record keeps 'void', ms
    lines    per line j, as the consume charged them: {metric, period = start ms as a
             string ('' for gauges), amount, held = true when kept in the hold}
  ARGV[2]  the consume's context JSON, stored verbatim with every event

  Reply:
    {1}            VOIDED: the applied decision was given back
    {13}           NOT_APPLIED: nothing had been applied; a later consume will refuse
    {9}            NOT_FOUND: already voided, or refunded
    {5, j, ...}    NEEDS_HYDRATION: line j's usage (j) or grants (-j) key is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"
--- @include "usage"
--- @include "hold"

local request = cjson.decode(ARGV[1])
local now, subject, id, lines = request.now, request.subject, request.id, request.lines
local record_key = KEYS[6 + 2 * #lines]

local record = redis.call('GET', record_key)
if record == 'void' or record == 'refunded' then return { 9 } end
if not record then
  redis.call('SET', record_key, 'void', 'PX', request.ttl)
  return { 13 }
end
local draws = cjson.decode(record).d

-- A held line is still charged only while its hold is open (settle or expiry ended it otherwise).
local raw_hold = redis.call('GET', KEYS[3])
local hold = raw_hold and cjson.decode(raw_hold)
local give, missing = {}, {}
for j, line in ipairs(lines) do
  if line.amount > 0 and (hold or not line.held) then
    give[#give + 1] = j
    if redis.call('EXISTS', KEYS[4 + 2 * j]) == 0 then missing[#missing + 1] = j end
    if #(draws[j] or {}) > 0 and redis.call('EXISTS', KEYS[5 + 2 * j]) == 0 then missing[#missing + 1] = -j end
  end
end
if #missing > 0 then return { 5, unpack(missing) } end

local ob = new_outbox(KEYS[1], id .. ':v', subject, now, ARGV[2])
for _, j in ipairs(give) do
  local line = lines[j]
  local after, restored, given = usage_give(KEYS[4 + 2 * j], KEYS[5 + 2 * j], draws[j] or {}, line.amount, 0)
  emit(ob, 'refund', line.metric, line.period, -given, after, { request = id, void = true, restored = restored })
end
if hold then hold_end(hold, subject, id) end
if redis.call('HGET', KEYS[5], 'h') == id then redis.call('DEL', KEYS[5]) end
redis.call('SET', record_key, 'void', 'PX', request.ttl)
return { 1 }
