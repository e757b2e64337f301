--[[
  util — number formatting shared by every script.

  Redis converts Lua numbers to strings with %.14g, which turns large integers into
  exponent notation; counters and timestamps are written through fmt_int instead.
]]
local function fmt_int(n)
  return string.format('%d', n)
end

local function to_int(s)
  return tonumber(s) or 0
end
