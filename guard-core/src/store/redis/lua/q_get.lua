-- ticket (refreshed). KEYS: 1 ticket, 2 pending, 3 audit. ARGV: 1 now|'T', 2 id, 3 audit cap
local now = now_ms(ARGV[1])
refresh(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[3]), now, ARGV[2])
return redis.call('HGETALL', KEYS[1])
