-- approve / deny. KEYS: 1 ticket, 2 token, 3 pending, 4 audit.
-- ARGV: 1 now|'T', 2 id, 3 'approve'|'deny', 4 by, 5 why, 6 token ttl, 7 keep after closing,
--       8 audit cap
local now = now_ms(ARGV[1])
local cap = tonumber(ARGV[8])
local st = refresh(KEYS[1], KEYS[3], KEYS[4], cap, now, ARGV[2])
if not st then return { 'unknown' } end
if st == 'expired' then return { 'expired' } end
if st ~= 'pending' then return { 'closed', st } end
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires'))
if now > expires then expires = now end
local status = 'denied'
if ARGV[3] == 'approve' then status = 'approved' end
redis.call('HSET', KEYS[1], 'status', status, 'by', ARGV[4], 'why', ARGV[5], 'at', fmt_int(now),
  'expires', fmt_int(expires))
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(expires - now + tonumber(ARGV[7]) + SLACK))
local token_expires = ''
if status == 'approved' then
  local b = redis.call('HMGET', KEYS[1], 'tool', 'customer', 'args', 'waived')
  local te = now + tonumber(ARGV[6])
  token_expires = fmt_int(te)
  redis.call('HSET', KEYS[2], 'ticket', ARGV[2], 'tool', b[1], 'customer', b[2], 'args', b[3],
    'waived', b[4], 'expires', token_expires, 'used', '0')
  redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[6]) + SLACK))
end
audit(KEYS[4], cap, now, ARGV[2], status, ARGV[4], ARGV[5])
return { 'ok', token_expires, redis.call('HGETALL', KEYS[1]) }
