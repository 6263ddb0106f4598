-- consume a token: at most once, fleet-wide. KEYS: 1 token, 2 audit.
-- ARGV: 1 now|'T', 2 tool, 3 customer, 4 canonical args, 5 audit cap
local now = now_ms(ARGV[1])
local cap = tonumber(ARGV[5])
local t = redis.call('HMGET', KEYS[1], 'ticket', 'tool', 'customer', 'args', 'waived', 'expires', 'used')
if not t[1] then
  audit(KEYS[2], cap, now, '', 'refused:unknown_token')
  return { 'unknown' }
end
local ticket = t[1]
if t[7] == '1' then
  audit(KEYS[2], cap, now, ticket, 'refused:token_used')
  return { 'used' }
end
if now >= tonumber(t[6]) then
  audit(KEYS[2], cap, now, ticket, 'refused:token_expired')
  return { 'expired' }
end
-- A mismatch does not burn the token: the approved call itself may still come.
if t[2] ~= ARGV[2] or t[3] ~= ARGV[3] or t[4] ~= ARGV[4] then
  audit(KEYS[2], cap, now, ticket, 'refused:token_mismatch')
  return { 'mismatch' }
end
redis.call('HSET', KEYS[1], 'used', '1')
audit(KEYS[2], cap, now, ticket, 'consumed')
return { 'ok', ticket, t[5] }
