-- Cluster mode, call-id slot, after the customer's script: is the id another customer's? If
-- not and the call was reserved, record it for settlement by id.
-- KEYS: 1 call index. ARGV: 1 customer key base, 2 'set' | 'check'
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 'conflict' end
if ARGV[2] == 'set' then redis.call('SET', KEYS[1], ARGV[1], 'PX', WEEK + SLACK) end
return 'ok'
