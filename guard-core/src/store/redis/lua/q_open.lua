-- open. KEYS: 1 ticket, 2 pending, 3 audit.
-- ARGV: 1 now|'T', 2 id, 3 ticket key prefix, 4 max tickets, 5 audit cap, 6 ticket ttl,
--       7 keep after closing, 8.. field/value pairs
local now = now_ms(ARGV[1])
local cap = tonumber(ARGV[5])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  sweep(ARGV[3], KEYS[2], KEYS[3], cap, now)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return { 'full' } end
end
local expires = now + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'created', fmt_int(now), 'expires', fmt_int(expires), 'status', 'pending',
  unpack(ARGV, 8))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[6]) + tonumber(ARGV[7]) + SLACK))
redis.call('ZADD', KEYS[2], now, ARGV[2])
audit(KEYS[3], cap, now, ARGV[2], 'opened')
return { 'ok', fmt_int(now), fmt_int(expires) }
