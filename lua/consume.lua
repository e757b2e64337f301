--[[
  consume — decide a request and, unless peeking, apply it in one atomic step: request rate
  (GCRA), idempotency, concurrency lease, then every metric it costs (plan allowance first,
  then bonus grants by earliest expiry). All or nothing: a quota denial changes no counter.

  KEYS[1]      outbox stream              <prefix>:{p<n>}:outbox
  KEYS[2]      hold deadlines (zset)      <prefix>:{p<n>}:holds
  KEYS[3]      denial tally (zset)        <prefix>:{p<n>}:denials:<minute start ms>
  KEYS[4]      request rate (GCRA TAT)    <prefix>:{p<n>}:rl:<subject>|<rate class>
  KEYS[5]      leases (zset)              <prefix>:{p<n>}:cc:<subject>|
  KEYS[6]      idempotency record (hash)  <prefix>:{p<n>}:idem:<subject>|<key>
  KEYS[7]      hold (JSON string)         <prefix>:{p<n>}:h:<subject>|<id>
  KEYS[6+2i]   usage of metric i          <prefix>:{p<n>}:u:<subject>|<metric>|<period> (counter)
                                          <prefix>:{p<n>}:g:<subject>|<metric>          (gauge)
  KEYS[7+2i]   grants of metric i         <prefix>:{p<n>}:gr:<subject>|<metric>

  ARGV[1]   now, ms
  ARGV[2]   subject id
  ARGV[3]   request id: event ids are <id>:<n>; also the hold and lease id
  ARGV[4]   mode: 'apply' | 'peek' (decide only, write nothing) | 'shadow' (apply, never deny)
  ARGV[5]   rate interval, ms between requests (fractional; '0' = no rate limit)
  ARGV[6]   rate burst
  ARGV[7]   concurrency limit ('0' = none); the lease lives until the hold ends
  ARGV[8]   idempotency fingerprint ('' = no idempotency key)
  ARGV[9]   idempotency record TTL, ms
  ARGV[10]  hold TTL, ms ('0' = no hold). A hold keeps the held lines, the lease and the
            in-flight idempotency record until settle, release or this deadline.
  ARGV[11]  context JSON stored with every event (route, idempotency key, ...)
  ARGV[12]  denial tally TTL, ms
  ARGV[13]  the idempotency key itself (kept in the hold so it can be completed later)
  ARGV[14]  number of metrics n; then 7 values per metric i, from ARGV[15 + 7(i-1)]:
            name, kind ('c' counter | 'g' gauge), period start ms ('' for gauges),
            limit ('-1' = unlimited), amount, held ('1' | '0'), usage expire-at ms ('0' = none)

  Reply (integers unless noted):
    {1, would_deny, rl_remaining, rl_reset_ms, rl_retry_ms, leases, used_1, grants_1, ...}
        ALLOWED. would_deny is 0, or in shadow mode what would have denied: i (metric i),
        -1 (rate), -2 (concurrency). grants_i: usable grant balance after the change.
    {2, i, rl_remaining, rl_reset_ms, rl_retry_ms, leases, used_1, grants_1, ...}
        DENIED by the quota of metric i; nothing applied.
    {3, -1, 0, rl_reset_ms, rl_retry_ms, 0}    DENIED by the request rate
    {4, -2, rl_remaining, rl_reset_ms, 0, leases}  DENIED by the concurrency limit
    {5, j, ...}   NEEDS_HYDRATION: j = i when metric i's usage key is missing, -i when its
                  grants key is; nothing applied (the caller loads them and retries)
    {6, reply_json, response, request_id} (strings)   REPLAYED: the original decision
    {7}           IDEMPOTENCY_MISMATCH: the key was used for a different request
    {8}           IDEMPOTENCY_IN_FLIGHT: the first request with the key has not finished
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"
--- @include "gcra"
--- @include "idempotency"
--- @include "usage"

local now = tonumber(ARGV[1])
local subject, id, mode = ARGV[2], ARGV[3], ARGV[4]
local rate_interval, rate_burst = tonumber(ARGV[5]), tonumber(ARGV[6])
local concurrency = tonumber(ARGV[7])
local fingerprint, idem_ttl = ARGV[8], tonumber(ARGV[9])
local hold_ttl, context, denial_ttl = tonumber(ARGV[10]), ARGV[11], tonumber(ARGV[12])
local idem_key, n = ARGV[13], tonumber(ARGV[14])
local apply, shadow = mode ~= 'peek', mode == 'shadow'

local function tally_denial()
  redis.call('ZINCRBY', KEYS[3], 1, subject)
  redis.call('PEXPIRE', KEYS[3], denial_ttl)
end

-- 1. Request rate. A request over the rate changes nothing but the denial tally.
local rate = { allowed = true, remaining = 0, reset_ms = 0, retry_ms = 0 }
if rate_interval > 0 then rate = gcra_check(KEYS[4], now, rate_interval, rate_burst) end
local function apply_rate()
  if rate_interval > 0 then gcra_apply(KEYS[4], now, rate) end
end
local would_deny = 0
if not rate.allowed then
  if apply then tally_denial() end
  if not shadow then return { 3, -1, 0, rate.reset_ms, rate.retry_ms, 0 } end
  would_deny = -1
end

-- 2. Idempotency: a known key answers from its record (and still counts as a request).
if fingerprint ~= '' then
  local known = idem_lookup(KEYS[6], fingerprint)
  if known then
    if apply then apply_rate() end
    return known
  end
end

-- 3. Every usage and grants key must be present: a missing one is rebuilt from the ledger
--    by the caller, never assumed to be zero.
local metrics, missing = {}, {}
for i = 1, n do
  local a = 15 + 7 * (i - 1)
  local m = { name = ARGV[a], kind = ARGV[a + 1], period = ARGV[a + 2], limit = tonumber(ARGV[a + 3]),
              amount = tonumber(ARGV[a + 4]), held = ARGV[a + 5] == '1', expire_at = tonumber(ARGV[a + 6]),
              key = KEYS[6 + 2 * i], grants_key = KEYS[7 + 2 * i] }
  if redis.call('EXISTS', m.key) == 0 then missing[#missing + 1] = i end
  if m.limit >= 0 and redis.call('EXISTS', m.grants_key) == 0 then missing[#missing + 1] = -i end
  metrics[i] = m
end
if #missing > 0 then return { 5, unpack(missing) } end

-- 4. Concurrency: leases past their deadline no longer count.
local leases = 0
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
  leases = redis.call('ZCARD', KEYS[5])
  if leases >= concurrency then
    if apply then tally_denial() end
    if not shadow then
      if apply then apply_rate() end
      return { 4, -2, rate.remaining, rate.reset_ms, 0, leases }
    end
    if would_deny == 0 then would_deny = -2 end
  end
end

-- 5. Quota: every metric must fit, or nothing is taken.
local denied = 0
for i, m in ipairs(metrics) do
  m.used = to_int(redis.call('GET', m.key))
  m.grants = (m.limit >= 0) and grants_usable(m.grants_key, now) or {}
  if denied == 0 and m.amount > usage_room(m.kind, m.used, m.limit, m.grants) then denied = i end
end

local function reply(code, flag)
  local r = { code, flag, rate.remaining, rate.reset_ms, rate.retry_ms, leases }
  for _, m in ipairs(metrics) do
    r[#r + 1] = m.used
    r[#r + 1] = grants_total(m.grants)
  end
  return r
end

local ob = new_outbox(KEYS[1], id, subject, now, context)
if denied > 0 then
  if not apply then return reply(2, denied) end
  local m = metrics[denied]
  apply_rate()
  tally_denial()
  emit(ob, 'denied', m.name, m.period, 0, m.used,
       { requested = m.amount, limit = m.limit, shadow = shadow })
  if not shadow then return reply(2, denied) end
  if would_deny == 0 then would_deny = denied end
end
if not apply then return reply(1, would_deny) end

-- 6. Apply: rate, lease, every metric (with its event), the hold and the idempotency record.
apply_rate()
local deadline = now + hold_ttl
if concurrency > 0 and hold_ttl > 0 then
  redis.call('ZADD', KEYS[5], deadline, id)
  redis.call('PEXPIRE', KEYS[5], hold_ttl)
  leases = leases + 1
end
local lines = {}
for _, m in ipairs(metrics) do
  local draws, overage = {}, 0
  if m.amount > 0 then
    m.used, draws, overage = usage_take(m.kind, m.key, m.grants_key, m.grants, m.used, m.limit, m.amount, m.expire_at)
    emit(ob, 'consume', m.name, m.period, m.amount, m.used,
         { draws = draws, overage = overage, hold = (hold_ttl > 0 and m.held) and id or nil })
  end
  if hold_ttl > 0 and m.held then
    lines[#lines + 1] = { m = m.name, k = m.kind, p = m.period, a = m.amount, d = draws }
  end
end

local result = reply(1, would_deny)
if hold_ttl > 0 then
  redis.call('SET', KEYS[7], cjson.encode({
    l = lines, c = (concurrency > 0) and 1 or 0, i = (fingerprint ~= '') and idem_key or '',
    e = deadline, x = context, r = cjson.encode(result) }))
  redis.call('ZADD', KEYS[2], deadline, subject .. '|' .. id)
end
if fingerprint ~= '' then
  if hold_ttl > 0 then
    redis.call('HSET', KEYS[6], 'fp', fingerprint, 'st', 'f', 'h', id)
    redis.call('PEXPIRE', KEYS[6], idem_ttl)
  else
    idem_decided(KEYS[6], fingerprint, result, idem_ttl, id)
  end
end
return result
