--[[
  usage — the arithmetic of one metric's usage: charge with grants, give back, overage.
  Counters draw bonus grants once the plan allowance is gone; gauges treat unexpired grants
  as extra ceiling (a level, not a consumable).

  usage_room(kind, used, limit, grants) -> units that still fit (math.huge if unlimited)
  usage_take(kind, key, grants_key, grants, used, limit, amount, expire_at)
      -> used_after, draws, overage; applies `amount` unconditionally (the caller checked,
         or this is a settle/shadow charge that records overage beyond limit + grants)
  usage_give(key, grants_key, draws, amount, expire_at) -> used_after, restored
      gives `amount` back: grant draws first (latest first), then the plan; never below 0
  usage_set_expiry(key, expire_at): counters expire after their period plus grace (0 = keep)
]]
local function usage_room(kind, used, limit, grants)
  if limit < 0 then return math.huge end
  if kind == 'g' then return math.max(0, limit + grants_total(grants) - used) end
  return math.max(0, limit - used) + grants_total(grants)
end

local function usage_set_expiry(key, expire_at)
  if expire_at > 0 then redis.call('PEXPIREAT', key, expire_at) end
end

local function usage_take(kind, key, grants_key, grants, used, limit, amount, expire_at)
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
  usage_set_expiry(key, expire_at)
  return after, draws, overage
end

local function usage_give(key, grants_key, draws, amount, expire_at)
  local used = to_int(redis.call('GET', key))
  amount = math.min(amount, used)
  local restored = {}
  if #draws > 0 then restored = grants_restore(grants_key, draws, amount) end
  local after = redis.call('DECRBY', key, fmt_int(amount))
  usage_set_expiry(key, expire_at)
  return after, restored, amount
end
