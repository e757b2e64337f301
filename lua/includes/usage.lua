--[[
  usage — the arithmetic of one metric's usage: charge with grants, give back, overage.
  Counters draw bonus grants once the plan allowance is gone; gauges treat unexpired grants
  as extra ceiling (a level, not a consumable).

  usage_room(kind, used, limit, grants) -> units that still fit (math.huge if unlimited)
  usage_take(kind, key, grants_key, grants, used, limit, amount, ttl_ms)
      -> used_after, draws, overage; applies `amount` unconditionally (the caller checked,
         or this is a settle/shadow charge that records overage beyond limit + grants)
  usage_give(key, grants_key, draws, amount, ttl_ms) -> used_after, restored
      gives `amount` back: grant draws first (latest first), then the plan; never below 0
  usage_set_expiry(key, ttl_ms): counters expire after their period plus grace (0 = keep)

  Expiry is a TTL counted on Redis's own clock, never an instant from the caller's clock: the
  caller sends the time left in the period plus grace, so a gateway whose clock is off (or a
  test clock) can shorten or lengthen a key's life by its error, but never make a fresh key
  vanish at once.
]]
local function usage_room(kind, used, limit, grants)
  if limit < 0 then return math.huge end
  if kind == 'g' then return math.max(0, limit + grants_total(grants) - used) end
  return math.max(0, limit - used) + grants_total(grants)
end

local function usage_set_expiry(key, ttl_ms)
  if ttl_ms > 0 then redis.call('PEXPIRE', key, ttl_ms) end
end

local function usage_take(kind, key, grants_key, grants, used, limit, amount, ttl_ms)
  local draws, overage = {}, 0
  if kind == 'c' and limit >= 0 then
    local from_grants = amount - math.max(0, math.min(amount, limit - used))
    if from_grants > 0 then
      draws = grants_draw(grants_key, grants, from_grants)
      local drawn = 0
      for _, d in ipairs(draws) do drawn = drawn + d[2] end
      overage = from_grants - drawn
    end
  elseif kind == 'g' and limit >= 0 then
    overage = math.max(0, used + amount - (limit + grants_total(grants)))
  end
  local after = redis.call('INCRBY', key, fmt_int(amount))
  usage_set_expiry(key, ttl_ms)
  return after, draws, overage
end

local function usage_give(key, grants_key, draws, amount, ttl_ms)
  local used = to_int(redis.call('GET', key))
  amount = math.min(amount, used)
  local restored = {}
  if #draws > 0 then restored = grants_restore(grants_key, draws, amount) end
  local after = redis.call('DECRBY', key, fmt_int(amount))
  usage_set_expiry(key, ttl_ms)
  return after, restored, amount
end
