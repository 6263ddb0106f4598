-- Cluster mode, customer slot: compensation when the agent's slot refused (or failed) after
-- the customer's script reserved: the reservation is removed as if never made.
-- KEYS: 1 events. ARGV: 1 call id, 2 reserved at
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec then
  local e = parse(rec)
  if e.st == 'p' and fmt_int(e.at) == ARGV[2] then
    redis.call('HDEL', KEYS[1], ARGV[1])
    return 'removed'
  end
end
return 'kept'
