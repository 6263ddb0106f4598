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
-- The agent's last hour: drops entries older than an hour, returns the running sum.
local function agent_prune(z, h, s, now)
  local cutoff = fmt_int(now - HOUR)
  local asum = tonumber(redis.call('GET', s) or '') or 0
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
  if #old > 0 then
    local i = 1
    while i <= #old do
      local j = math.min(i + 999, #old)
      local amts = redis.call('HMGET', h, unpack(old, i, j))
      for k = 1, j - i + 1 do asum = asum - (tonumber(amts[k] or '') or 0) end
      i = j + 1
    end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
    chunked('HDEL', h, old)
    if redis.call('ZCARD', z) == 0 then
      asum = 0
      redis.call('DEL', z, h, s)
    else
      redis.call('SET', s, fmt_int(asum), 'KEEPTTL')
    end
  end
  return asum
end
local function agent_add(z, h, s, now, id, amount, asum)
  redis.call('ZADD', z, now, id)
  redis.call('HSET', h, id, fmt_int(amount))
  redis.call('SET', s, fmt_int(asum + amount))
  for _, k in ipairs({ z, h, s }) do redis.call('PEXPIRE', k, HOUR + SLACK) end
end
-- Takes a released call's amount out of the agent's hour, if it is still the entry it added.
local function agent_remove(z, h, s, id, at, amount)
  local zat = tonumber(redis.call('ZSCORE', z, id) or '')
  if zat and zat == at and redis.call('HEXISTS', h, id) == 1 then
    redis.call('ZREM', z, id)
    redis.call('HDEL', h, id)
    redis.call('INCRBY', s, -amount)
  end
end
-- commit ('c') / release ('r') one reservation of a customer: the answer and the record.
local function settle_customer(evk, now, id, op)
  local rec = redis.call('HGET', evk, id)
  if not rec then return 'unknown', nil end
  local e = parse(rec)
  if e.st == 'c' then return 'already_committed', nil end
  if e.st == 'r' then return 'already_released', nil end
  if op == 'c' then
    e.st = 'c'
    redis.call('HSET', evk, id, encode(e))
    return 'committed', nil
  end
  if now >= e.sb then
    e.st = 'c'
    redis.call('HSET', evk, id, encode(e))
    return 'expired', nil
  end
  e.st = 'r'
  redis.call('HSET', evk, id, encode(e))
  return 'released', e
end
