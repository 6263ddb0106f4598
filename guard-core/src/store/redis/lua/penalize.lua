-- penalize. KEYS: 1 trust, 2 history. ARGV: 1 now|'T', 2 half-life, 3 amount, 4 code, 5 cap
local now = now_ms(ARGV[1])
local hl, amount, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local t = redis.call('HMGET', KEYS[1], 'acc', 'upd', 'seq')
local acc = tonumber(t[1] or '') or 0
local upd = tonumber(t[2] or '') or 0
local seq = tonumber(t[3] or '') or 0
acc = clamp01(acc * decay(since(now, upd), hl))
if now > upd then upd = now end
local before = 1 - acc
acc = clamp01(acc + amount)
local delta = (1 - acc) - before
redis.call('HSET', KEYS[1], 'acc', fmt_f(acc), 'upd', fmt_int(upd), 'seq', fmt_int(seq + 1))
local ttl = trust_ttl(acc, upd, now, hl)
redis.call('PEXPIRE', KEYS[1], ttl)
if cap > 0 then
  redis.call('RPUSH', KEYS[2], fmt_int(seq) .. '|' .. fmt_int(now) .. '|' .. fmt_f(delta) .. '|0|' .. ARGV[4])
  redis.call('LTRIM', KEYS[2], -cap, -1)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return { fmt_int(seq), fmt_int(now) }
