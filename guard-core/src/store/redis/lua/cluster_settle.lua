-- Cluster mode, customer slot: commit / release. KEYS: 1 events. ARGV: 1 now|'T', 2 call id,
-- 3 'c'|'r'. A release of an amount answers what the agent's slot must take back.
local res, e = settle_customer(KEYS[1], now_ms(ARGV[1]), ARGV[2], ARGV[3])
if e and e.amount then return { res, e.agent, e.kind, fmt_int(e.amount), fmt_int(e.at) } end
return { res }
