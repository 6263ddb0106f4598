-- pending / expire. KEYS: 1 pending, 2 audit. ARGV: 1 now|'T', 2 ticket key prefix, 3 audit cap,
-- 4 'list' | 'count'
local now = now_ms(ARGV[1])
local n = sweep(ARGV[2], KEYS[1], KEYS[2], tonumber(ARGV[3]), now)
if ARGV[4] == 'count' then return n end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', ARGV[2] .. id .. '}')
end
return out
