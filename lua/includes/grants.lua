--[[
  grants — bonus credit of one subject and metric, kept in a hash:
    _h          '1', present once the hash is hydrated (an empty hash means "no grants")
    <grant id>  '<remaining>:<expires_at ms, 0 = never>'

  grants_usable(key, now) -> list of {id, remaining, expires}, earliest expiry first
    (never-expiring last, ties by id); expired or used-up grants are left out.
  grants_usable_of(raw, now) -> the same list from the hash's HGETALL reply `raw`, for a
    caller that already read it (an empty reply means the hash is missing: not hydrated)
  grants_total(list) -> sum of remaining
  grants_draw(key, list, amount) -> draws {{id, n}, ...}; takes up to `amount` in list order
  grants_restore(key, draws, amount) -> restored {{id, n}, ...}; gives back up to `amount`,
    latest draw first; a revoked grant is not recreated
]]
local function grants_parse(value)
  local sep = string.find(value, ':', 1, true)
  return tonumber(string.sub(value, 1, sep - 1)), tonumber(string.sub(value, sep + 1))
end

local function grants_usable_of(raw, now)
  local list = {}
  for i = 1, #raw, 2 do
    if raw[i] ~= '_h' then
      local remaining, expires = grants_parse(raw[i + 1])
      if remaining > 0 and (expires == 0 or expires > now) then
        list[#list + 1] = { id = raw[i], remaining = remaining, expires = expires }
      end
    end
  end
  table.sort(list, function(a, b)
    local ea = a.expires == 0 and math.huge or a.expires
    local eb = b.expires == 0 and math.huge or b.expires
    if ea ~= eb then return ea < eb end
    return a.id < b.id
  end)
  return list
end

local function grants_usable(key, now)
  return grants_usable_of(redis.call('HGETALL', key), now)
end

local function grants_total(list)
  local total = 0
  for _, g in ipairs(list) do total = total + g.remaining end
  return total
end

local function grants_draw(key, list, amount)
  local draws = {}
  for _, g in ipairs(list) do
    if amount <= 0 then break end
    local n = math.min(amount, g.remaining)
    g.remaining = g.remaining - n
    amount = amount - n
    redis.call('HSET', key, g.id, fmt_int(g.remaining) .. ':' .. fmt_int(g.expires))
    draws[#draws + 1] = { g.id, n }
  end
  return draws
end

local function grants_restore(key, draws, amount)
  local restored = {}
  for i = #draws, 1, -1 do
    if amount <= 0 then break end
    local id, drawn = draws[i][1], draws[i][2]
    local n = math.min(amount, drawn)
    local value = redis.call('HGET', key, id)
    if value then
      local remaining, expires = grants_parse(value)
      redis.call('HSET', key, id, fmt_int(remaining + n) .. ':' .. fmt_int(expires))
      restored[#restored + 1] = { id, n }
    end
    draws[i][2] = drawn - n
    amount = amount - n
  end
  return restored
end
