--[[
  hold — a hold written by consume: the held lines (reservations, refundable charges), the
  concurrency lease and the in-flight idempotency record of one request. Stored as JSON:
    l  lines {{m = metric, k = 'c'|'g', p = period, a = amount held, d = grant draws}, ...}
    c  1 when a concurrency lease is held     i  the idempotency key waiting on it ('' = none)
    e  deadline ms                            x  context JSON of the request
    r  the original decision reply (JSON), for the idempotency record

  Scripts that end a hold take the same leading KEYS:
    KEYS[1] outbox, KEYS[2] hold deadlines, KEYS[3] hold, KEYS[4] leases,
    KEYS[5] idempotency record (any key of the partition when the hold has none),
    KEYS[4+2j] usage of line j, KEYS[5+2j] grants of line j

  hold_load(n) -> hold, or nil when it is gone; errors if the caller passed n ~= #lines
  hold_missing(hold, needs_grants) -> {j | -j, ...}: usage (j) or grants (-j) keys to hydrate
    first; a line's grants key is needed when it drew grants or needs_grants[j]
  hold_end(hold, subject, id) removes the hold, its deadline entry and its lease
]]
local function hold_load(n)
  local raw = redis.call('GET', KEYS[3])
  if not raw then return nil end
  local hold = cjson.decode(raw)
  if #hold.l ~= n then
    error('QG_HOLD_SHAPE hold has ' .. #hold.l .. ' lines, caller passed ' .. n)
  end
  return hold
end

local function hold_missing(hold, needs_grants)
  local missing = {}
  for j, line in ipairs(hold.l) do
    if redis.call('EXISTS', KEYS[4 + 2 * j]) == 0 then missing[#missing + 1] = j end
    if (needs_grants[j] or #line.d > 0) and redis.call('EXISTS', KEYS[5 + 2 * j]) == 0 then
      missing[#missing + 1] = -j
    end
  end
  return missing
end

local function hold_end(hold, subject, id)
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[2], subject .. '|' .. id)
  if hold.c == 1 then redis.call('ZREM', KEYS[4], id) end
end

-- {1, used_1, grants_1, ...}: each line's usage and usable grant balance after the change
local function hold_usage_reply(hold, now)
  local r = { 1 }
  for j = 1, #hold.l do
    r[#r + 1] = to_int(redis.call('GET', KEYS[4 + 2 * j]))
    r[#r + 1] = grants_total(grants_usable(KEYS[5 + 2 * j], now))
  end
  return r
end
