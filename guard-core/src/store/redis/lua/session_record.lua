-- session record: what one scanned message leaves behind, atomically.
-- KEYS: 1 messages, 2 sentiment scores, 3 verdicts, 4 flag (hash: rule, seq)
-- ARGV: 1 ttl ms, 2/3 has message/message, 4/5 has score/score, 6/7 has flag/rule,
--       8/9 has verdict/verdict, 10 message cap, 11 score cap, 12 verdict cap
local function add(key, v, cap)
  redis.call('RPUSH', key, v)
  redis.call('LTRIM', key, -cap, -1)
end
if ARGV[2] == '1' then add(KEYS[1], ARGV[3], tonumber(ARGV[10])) end
if ARGV[4] == '1' then add(KEYS[2], ARGV[5], tonumber(ARGV[11])) end
if ARGV[8] == '1' then add(KEYS[3], ARGV[9], tonumber(ARGV[12])) end
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[4], 'rule', ARGV[7])
  redis.call('HINCRBY', KEYS[4], 'seq', 1)
end
-- The whole session lives as long as its newest write.
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 'ok'
