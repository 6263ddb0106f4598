-- refund_penalty. KEYS: 1 trust, 2 history.
-- ARGV: 1 now|'T', 2 half-life, 3 receipt seq, 4 receipt at, 5 receipt amount, 6 cap
local now = now_ms(ARGV[1])
local hl, cap = tonumber(ARGV[2]), tonumber(ARGV[6])
local t = redis.call('HMGET', KEYS[1], 'acc', 'upd', 'seq')
local acc = tonumber(t[1] or '') or 0
local upd = tonumber(t[2] or '') or 0
local seq = tonumber(t[3] or '') or 0
local list = redis.call('LRANGE', KEYS[2], 0, -1)
for i, s in ipairs(list) do
  local es, at, delta, refunded, code = string.match(s, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if es == ARGV[3] and at == ARGV[4] then
    if refunded == '1' then
      return fmt_f(clamp01(1 - clamp01(acc * decay(since(now, upd), hl))))
    end
    redis.call('LSET', KEYS[2], i - 1, es .. '|' .. at .. '|' .. delta .. '|1|' .. code)
    break
  end
end
acc = clamp01(acc * decay(since(now, upd), hl))
if now > upd then upd = now end
local remaining = clamp01(tonumber(ARGV[5])) * decay(since(now, tonumber(ARGV[4])), hl)
local before = 1 - acc
acc = clamp01(acc - remaining)
local delta = (1 - acc) - before
redis.call('HSET', KEYS[1], 'acc', fmt_f(acc), 'upd', fmt_int(upd), 'seq', fmt_int(seq + 1))
local ttl = trust_ttl(acc, upd, now, hl)
redis.call('PEXPIRE', KEYS[1], ttl)
if cap > 0 then
  redis.call('RPUSH', KEYS[2], fmt_int(seq) .. '|' .. fmt_int(now) .. '|' .. fmt_f(delta) .. '|0|approved')
  redis.call('LTRIM', KEYS[2], -cap, -1)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return fmt_f(clamp01(1 - clamp01(acc * decay(since(now, upd), hl))))
