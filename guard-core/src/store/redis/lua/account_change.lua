-- record_account_change. KEYS: 1 last account change. ARGV: 1 now|'T'
local now = now_ms(ARGV[1])
local lac = tonumber(redis.call('GET', KEYS[1]) or '')
if not lac or now > lac then lac = now end
redis.call('SET', KEYS[1], fmt_int(lac), 'PX', math.ceil(lac - now + WEEK + SLACK))
return 'ok'
