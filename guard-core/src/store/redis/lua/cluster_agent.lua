-- Cluster mode, agent slot: the agent-wide hourly limit, after the customer's script ran.
-- KEYS: 1 zset, 2 amounts, 3 sum. ARGV: 1 now|'T', 2 call id, 3 amount, 4 limit,
-- 5 'i' add if it fits | 'a' add always | 'p' only report the total
-- Answers { 'added'|'refused'|'peek', total before this call }.
local now = now_ms(ARGV[1])
local id = ARGV[2]
local amount, alim = tonumber(ARGV[3]), tonumber(ARGV[4])
local asum = agent_prune(KEYS[1], KEYS[2], KEYS[3], now)
local mine = tonumber(redis.call('HGET', KEYS[2], id) or '')
local total = asum
if mine then total = total - mine end
if total + (amount or 0) > MAXI then return { 'overflow' } end
-- A retry of a call already counted here is not counted again.
if mine or ARGV[5] == 'p' then return { 'peek', fmt_int(total) } end
if ARGV[5] == 'i' and alim and total + (amount or 0) > alim then return { 'refused', fmt_int(total) } end
if amount then agent_add(KEYS[1], KEYS[2], KEYS[3], now, id, amount, asum) end
return { 'added', fmt_int(total) }
