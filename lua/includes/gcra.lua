--[[
  gcra — request-rate limit by the generic cell rate algorithm. The key holds the
  theoretical arrival time (TAT, ms, fractional) of the next request.

  gcra_check(key, now, interval, burst) -> state {allowed, new_tat, remaining, reset_ms, retry_ms}
    interval  ms between requests at the sustained rate (1000 / rps)
    burst     requests allowed at once
    reset_ms  ms until the bucket is full again; retry_ms ms until one more request fits
  gcra_apply(key, now, state) stores the new TAT (only for an allowed state).
]]
local function gcra_check(key, now, interval, burst)
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  if now < allow_at then
    return { allowed = false, new_tat = tat, remaining = 0,
             reset_ms = math.ceil(tat - now), retry_ms = math.ceil(allow_at - now) }
  end
  return { allowed = true, new_tat = new_tat, remaining = math.floor((now - allow_at) / interval),
           reset_ms = math.ceil(new_tat - now), retry_ms = 0 }
end

local function gcra_apply(key, now, state)
  if state.allowed then
    redis.call('SET', key, string.format('%.3f', state.new_tat), 'PX', math.max(1, math.ceil(state.new_tat - now)))
  end
end
