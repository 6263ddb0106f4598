-- commit / release by call id. KEYS: 1 call index. ARGV: 1 now|'T', 2 call id, 3 'c'|'r'
local now = now_ms(ARGV[1])
local id = ARGV[2]
local base = redis.call('GET', KEYS[1])
if not base then return 'unknown' end
local evk = base .. ':ev'
local rec = redis.call('HGET', evk, id)
if not rec then return 'unknown' end
local e = parse(rec)
if e.st == 'c' then return 'already_committed' end
if e.st == 'r' then return 'already_released' end
if ARGV[3] == 'c' then
  e.st = 'c'
  redis.call('HSET', evk, id, encode(e))
  return 'committed'
end
if now >= e.sb then
  e.st = 'c'
  redis.call('HSET', evk, id, encode(e))
  return 'expired'
end
e.st = 'r'
redis.call('HSET', evk, id, encode(e))
if e.amount then
  local az, ah, as = e.agent .. ':z:' .. e.kind, e.agent .. ':h:' .. e.kind, e.agent .. ':s:' .. e.kind
  local at = tonumber(redis.call('ZSCORE', az, id) or '')
  if at and at == e.at and redis.call('HEXISTS', ah, id) == 1 then
    redis.call('ZREM', az, id)
    redis.call('HDEL', ah, id)
    redis.call('INCRBY', as, -e.amount)
  end
end
return 'released'
