-- Shared by the approval-queue scripts (after common.lua).
local function audit(key, cap, now, ticket, action, by, why)
  local e = { at = fmt_int(now), t = ticket, a = action }
  if by then e.by = by end
  if why then e.why = why end
  redis.call('RPUSH', key, cjson.encode(e))
  redis.call('LTRIM', key, -cap, -1)
end
-- Marks a pending ticket past its TTL expired (audited once) and drops it from the pending set.
local function refresh(tkey, pending, akey, cap, now, id)
  local t = redis.call('HMGET', tkey, 'status', 'expires')
  if not t[1] then
    redis.call('ZREM', pending, id)
    return nil
  end
  if t[1] == 'pending' and now >= tonumber(t[2]) then
    redis.call('HSET', tkey, 'status', 'expired')
    redis.call('ZREM', pending, id)
    audit(akey, cap, now, id, 'expired')
    return 'expired'
  end
  return t[1]
end
-- Refreshes every pending ticket; returns how many expired.
local function sweep(tprefix, pending, akey, cap, now)
  local n = 0
  for _, id in ipairs(redis.call('ZRANGE', pending, 0, -1)) do
    local st = refresh(tprefix .. id .. '}', pending, akey, cap, now, id)
    if st == 'expired' then n = n + 1 end
    if st and st ~= 'pending' then redis.call('ZREM', pending, id) end
  end
  return n
end
