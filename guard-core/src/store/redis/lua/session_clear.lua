-- clear the flag a check saw, never one set since. KEYS: 1 flag. ARGV: 1 seq
if redis.call('HGET', KEYS[1], 'seq') == ARGV[1] then redis.call('HDEL', KEYS[1], 'rule') end
return 'ok'
