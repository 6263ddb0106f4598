-- Shared by every guard script (prepended). Numbers are Lua doubles: amounts are integer minor
-- units, kept below 2^53 by the client and checked here after every sum.
local WEEK = 604800000
local DAY = 86400000
local HOUR = 3600000
local MAXI = 9007199254740991
local SLACK = 300000

local function now_ms(arg)
  if arg == 'T' then
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return tonumber(arg)
end
local function fmt_int(x) return string.format('%.0f', x) end
local function fmt_f(x) return string.format('%.17g', x) end
local function clamp01(x)
  if x ~= x then return 0 end
  if x < 0 then return 0 elseif x > 1 then return 1 end
  return x
end
local function since(now, t) if now > t then return now - t end return 0 end
local function in_window(now, at, w) return at >= now or now - at < w end
local function decay(elapsed, hl)
  if hl == 0 then
    if elapsed == 0 then return 1 end
    return 0
  end
  return 0.5 ^ (elapsed / hl)
end
-- kind|amount|currency|at|settle_by|state|agent key base
local function parse(rec)
  local kind, amount, cur, at, sb, st, agent =
    string.match(rec, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return { kind = kind, amount = tonumber(amount), cur = cur, at = tonumber(at),
           sb = tonumber(sb), st = st, agent = agent }
end
local function encode(e)
  local amount = ''
  if e.amount then amount = fmt_int(e.amount) end
  return e.kind .. '|' .. amount .. '|' .. e.cur .. '|' .. fmt_int(e.at) .. '|' .. fmt_int(e.sb)
    .. '|' .. e.st .. '|' .. e.agent
end
-- Runs `cmd key members...` in chunks (Lua's unpack has a stack limit).
local function chunked(cmd, key, list)
  local i = 1
  while i <= #list do
    local j = math.min(i + 999, #list)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end
-- How long a trust state matters: until the decayed penalty is below 1e-4, plus a day.
local function trust_ttl(acc, upd, now, hl)
  local need = 0
  if acc > 1e-4 then
    if hl == 0 then need = 0 else need = hl * (math.log(acc / 1e-4) / math.log(2)) end
  end
  need = need + since(upd, now) + DAY
  if need > 631152000000 then need = 631152000000 end
  return math.ceil(need)
end
