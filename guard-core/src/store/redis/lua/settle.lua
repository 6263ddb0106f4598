-- commit / release by call id (single node). KEYS: 1 call index. ARGV: 1 now|'T', 2 call id,
-- 3 'c'|'r'. The customer's and agent's keys are derived from the index: one node only.
local now = now_ms(ARGV[1])
local id = ARGV[2]
local base = redis.call('GET', KEYS[1])
if not base then return 'unknown' end
local res, e = settle_customer(base .. ':ev', now, id, ARGV[3])
if e and e.amount then
  agent_remove(e.agent .. ':z:' .. e.kind, e.agent .. ':h:' .. e.kind, e.agent .. ':s:' .. e.kind,
    id, e.at, e.amount)
end
return res
