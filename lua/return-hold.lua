--[[
  return-hold — end a hold by giving everything it holds back: a refund (the upstream
  failed), a cancelled reservation (`release` events), or an expired one. Each line gives back its held amount
  (grant draws first, never below 0) with an event of the given kind. Frees the lease and
  forgets the in-flight idempotency record, so a retry is decided afresh. Needs no plan or
  limit, so the expiry job can run it knowing only the hold.

  KEYS[1..5], KEYS[4+2j], KEYS[5+2j]   as in includes/hold.lua

  ARGV[1]  now, ms
  ARGV[2]  subject id
  ARGV[3]  event id base (events are <base>:<n>)
  ARGV[4]  hold id
  ARGV[5]  event kind: 'refund' | 'release' | 'expire' ('expire' only once the deadline passed)
  ARGV[6]  number of lines n (checked against the hold)

  Called from src/redis/scripts/return-hold.ts.

  Reply:
    {1, used_1, grants_1, ..., used_n, grants_n}   RETURNED (per line, in hold order)
    {9}            NOT_FOUND: already settled, returned or expired (a stale deadline
                   entry is removed)
    {10}           NOT_DUE: kind 'expire' before the hold's deadline
    {5, j, ...}    NEEDS_HYDRATION: line j's usage (j) or grants (-j) key is missing
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"
--- @include "usage"
--- @include "hold"

local now, subject, id, kind = tonumber(ARGV[1]), ARGV[2], ARGV[4], ARGV[5]

local hold = hold_load(tonumber(ARGV[6]))
if not hold then
  redis.call('ZREM', KEYS[2], subject .. '|' .. id)
  return { 9 }
end
if kind == 'expire' and hold.e > now then return { 10 } end
local missing = hold_missing(hold, {})
if #missing > 0 then return { 5, unpack(missing) } end

local ob = new_outbox(KEYS[1], ARGV[3], subject, now, hold.x)
for j, line in ipairs(hold.l) do
  if line.a > 0 then
    local after, restored, given = usage_give(KEYS[4 + 2 * j], KEYS[5 + 2 * j], line.d, line.a, 0)
    emit(ob, kind, line.m, line.p, -given, after, { hold = id, restored = restored })
  end
end

if hold.i ~= '' and redis.call('HGET', KEYS[5], 'h') == id then redis.call('DEL', KEYS[5]) end
hold_end(hold, subject, id)
return hold_usage_reply(hold, now)
