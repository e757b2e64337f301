--[[
  consume — decide a request and, unless peeking, apply it in one atomic step: request rate
  (GCRA), idempotency, concurrency lease, then every metric it costs (plan allowance first,
  then bonus grants by earliest expiry). All or nothing: a quota denial changes no counter.

  KEYS[1]   outbox stream              <prefix>:{p<n>}:outbox
  KEYS[2]   denial tally (zset)        <prefix>:{p<n>}:denials:<minute start ms>
  KEYS[3]   request rate (GCRA TAT)    <prefix>:{p<n>}:rl:<subject>|<rate class>
  KEYS[4]   hold deadlines (zset)      <prefix>:{p<n>}:holds
  KEYS[5]   leases (zset)              <prefix>:{p<n>}:cc:<subject>|
  KEYS[6]   idempotency record (hash)  <prefix>:{p<n>}:idem:<subject>|<key>
  KEYS[7]   hold (JSON string)         <prefix>:{p<n>}:h:<subject>|<request id>
  KEYS[8]   refund record (string)     <prefix>:{p<n>}:rf:<subject>|<request id>
            (also the record void.lua reads, with a void_ttl)
  then, for each metric in request.metrics, in order, its two keys:
            usage                      <prefix>:{p<n>}:u:<subject>|<metric>|<period> (counter)
                                       <prefix>:{p<n>}:g:<subject>|<metric>          (gauge)
                                       <prefix>:{p<n>}:w:<subject>|<metric>|<window>|<start> (window)
            grants (hash)              <prefix>:{p<n>}:gr:<subject>|<metric>
                                       (a window: <prefix>:{p<n>}:unused, never touched)
  The positions are fixed. Where a request has no use for one of KEYS[4..8] (no hold, no
  lease, no idempotency key, no refund record), the caller passes <prefix>:{p<n>}:unused
  there, which the script then never touches.

  ARGV[1]   the request, JSON (src/redis/scripts/consume.ts builds it):
    now          ms
    subject      subject id
    id           request id: event ids are <id>:<n>; also the hold and lease id
    mode         'apply' | 'peek' (decide only, write nothing) | 'shadow' (apply, never deny)
    rate         {interval = ms between requests (fractional), burst}; absent = no rate limit
    denial_ttl   denial tally TTL, ms
    metrics      [{name, kind = 'c' (counter) | 'g' (gauge), period = start ms as a string
                   ('' for gauges), limit (-1 = unlimited), amount, ttl = usage TTL ms on
                   Redis's clock (0 = none), held = true to keep the line in the hold,
                   window = 'minute' | 'hour' | 'day' for a window of the metric: a rate
                   limit checked and consumed with the rest, without grants, events, hold
                   or hydration (a missing key is an empty window); period stays the
                   billing period's, for its denial event}, ...]
    concurrency  concurrency limit (0 = none); the lease lives until the hold ends
    hold_ttl     ms (0 = no hold). A hold keeps the held lines, the lease and the in-flight
                 idempotency record until settle, return or this deadline.
    idempotency  {key, fingerprint, ttl = record TTL ms}; absent = no idempotency key
    refund_ttl   ms (0 = none; only without a hold): every metric is charged outright, and
                 the grant draws it made (if any) are kept in the refund record this long,
                 so that refund.lua can give the charge back exactly if the upstream fails.
    void_ttl     ms (0 = none): how long the caller may still give the decision back by its
                 request id (void.lua) when its answer came too late. An applied request
                 then always writes its refund record (grant draws of every metric) for at
                 least this long; a request whose record already reads 'void' (the caller
                 gave up before it ran) is refused unapplied.
  ARGV[2]   context JSON, stored verbatim with every event and the hold (route, key, ...)
  ARGV[3]   deadline: Redis time (ms) after which the request is refused unapplied
            ('0' = none). The caller stops waiting for its answer then; a script that only
            reaches Redis later (Redis stalled) must not charge a request that was already
            answered 503.

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
    {12}          EXPIRED: past the deadline, or already voided by its caller; nothing applied
]]
--- @include "util"
--- @include "outbox"
--- @include "grants"
--- @include "gcra"
--- @include "idempotency"
--- @include "usage"

local request = cjson.decode(ARGV[1])
local now, subject, id, mode = request.now, request.subject, request.id, request.mode
local context, denial_ttl = ARGV[2], request.denial_ttl
local apply, shadow = mode ~= 'peek', mode == 'shadow'
local answer_by = tonumber(ARGV[3])
if apply and answer_by > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > answer_by then return { 12 } end
end
local outbox_key, denials_key, rate_key = KEYS[1], KEYS[2], KEYS[3]
local holds_key, leases_key, idem_record_key, hold_key, refund_key = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local void_ttl = request.void_ttl or 0
-- The caller timed out and voided this request before it ran (void.lua left a tombstone).
if apply and void_ttl > 0 and redis.call('GET', refund_key) == 'void' then return { 12 } end
local METRIC_KEYS = 8 -- metric i's usage key is KEYS[METRIC_KEYS + 2i - 1], its grants KEYS[METRIC_KEYS + 2i]

local concurrency, hold_ttl, refund_ttl = request.concurrency, request.hold_ttl, request.refund_ttl
local idem = request.idempotency
local fingerprint, idem_ttl, idem_key = '', 0, ''
if idem then fingerprint, idem_ttl, idem_key = idem.fingerprint, idem.ttl, idem.key end

local function tally_denial()
  redis.call('ZINCRBY', denials_key, 1, subject)
  redis.call('PEXPIRE', denials_key, denial_ttl)
end

-- 1. Request rate. A request over the rate changes nothing but the denial tally.
local rate = { allowed = true, remaining = 0, reset_ms = 0, retry_ms = 0 }
if request.rate then rate = gcra_check(rate_key, now, request.rate.interval, request.rate.burst) end
local function apply_rate()
  if request.rate then gcra_apply(rate_key, now, rate) end
end
local would_deny = 0
if not rate.allowed then
  if apply then tally_denial() end
  if not shadow then return { 3, -1, 0, rate.reset_ms, rate.retry_ms, 0 } end
  would_deny = -1
end

-- 2. Idempotency: a known key answers from its record (and still counts as a request).
if fingerprint ~= '' then
  local known = idem_lookup(idem_record_key, fingerprint)
  if known then
    if apply then apply_rate() end
    return known
  end
end

-- 3. Every usage and grants key must be present: a missing one is rebuilt from the ledger
--    by the caller, never assumed to be zero. The reads that prove presence are the ones the
--    quota check needs (a missing string reads as false, a missing hash as empty, since a
--    hydrated grants hash always holds `_h`), so presence costs no extra command.
local metrics, missing = {}, {}
for i, m in ipairs(request.metrics) do
  m.key, m.grants_key, m.grants_raw = KEYS[METRIC_KEYS + 2 * i - 1], KEYS[METRIC_KEYS + 2 * i], {}
  local used = redis.call('GET', m.key)
  if not used and not m.window then missing[#missing + 1] = i end
  m.used = to_int(used)
  if m.limit >= 0 and not m.window then
    m.grants_raw = redis.call('HGETALL', m.grants_key)
    if #m.grants_raw == 0 then missing[#missing + 1] = -i end
  end
  metrics[i] = m
end
if #missing > 0 then return { 5, unpack(missing) } end

-- 4. Concurrency: leases past their deadline no longer count.
local leases = 0
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', leases_key, '-inf', now)
  leases = redis.call('ZCARD', leases_key)
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
  m.grants = grants_usable_of(m.grants_raw, now)
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

local ob = new_outbox(outbox_key, id, subject, now, context)
if denied > 0 then
  if not apply then return reply(2, denied) end
  local m = metrics[denied]
  apply_rate()
  tally_denial()
  emit(ob, 'denied', m.name, m.period, 0, m.used,
       { requested = m.amount, limit = m.limit, shadow = shadow, window = m.window })
  if not shadow then return reply(2, denied) end
  if would_deny == 0 then would_deny = denied end
end
if not apply then return reply(1, would_deny) end

-- 6. Apply: rate, lease, every metric (with its event), the hold and the idempotency record.
apply_rate()
local hold_deadline = now + hold_ttl
if concurrency > 0 and hold_ttl > 0 then
  redis.call('ZADD', leases_key, hold_deadline, id)
  redis.call('PEXPIRE', leases_key, hold_ttl)
  leases = leases + 1
end
local lines, refund_draws, drew = {}, {}, false
for i, m in ipairs(metrics) do
  local draws, overage = {}, 0
  if m.window then
    -- A rate limit, not usage: the billing period's line carries the ledger event.
    if m.amount > 0 then
      m.used = redis.call('INCRBY', m.key, fmt_int(m.amount))
      redis.call('PEXPIRE', m.key, m.ttl)
    end
  elseif m.amount > 0 then
    m.used, draws, overage = usage_take(m.kind, m.key, m.grants_key, m.grants, m.used, m.limit, m.amount, m.ttl)
    emit(ob, 'consume', m.name, m.period, m.amount, m.used,
         { draws = draws, overage = overage, hold = (hold_ttl > 0 and m.held) and id or nil })
  end
  if hold_ttl > 0 and m.held then
    lines[#lines + 1] = { m = m.name, k = m.kind, p = m.period, a = m.amount, d = draws }
  end
  refund_draws[i] = draws
  if #draws > 0 then drew = true end
end
if (refund_ttl > 0 and drew) or void_ttl > 0 then
  redis.call('SET', refund_key, cjson.encode({ d = refund_draws }), 'PX', math.max(refund_ttl, void_ttl))
end

local result = reply(1, would_deny)
if hold_ttl > 0 then
  redis.call('SET', hold_key, cjson.encode({
    l = lines, c = (concurrency > 0) and 1 or 0, i = (fingerprint ~= '') and idem_key or '',
    e = hold_deadline, x = context, r = cjson.encode(result) }))
  redis.call('ZADD', holds_key, hold_deadline, subject .. '|' .. id)
end
if fingerprint ~= '' then
  if hold_ttl > 0 then
    redis.call('HSET', idem_record_key, 'fp', fingerprint, 'st', 'f', 'h', id)
    redis.call('PEXPIRE', idem_record_key, idem_ttl)
  else
    idem_decided(idem_record_key, fingerprint, result, idem_ttl, id)
  end
end
return result
