-- Cluster mode, agent slot: take a released call back out of the agent's hour.
-- KEYS: 1 zset, 2 amounts, 3 sum. ARGV: 1 call id, 2 reserved at, 3 amount
agent_remove(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
return 'ok'
