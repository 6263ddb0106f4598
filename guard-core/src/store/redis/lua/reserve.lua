-- check_and_reserve: prune -> totals -> facts -> admission -> reserve, atomically.
-- KEYS: 1 events, 2 last account change, 3 trust, 4 call index, 5 agent zset, 6 agent amounts,
--       7 agent sum. In cluster mode only 1-3 (one slot): the call index and the agent's hour
--       are separate scripts on their own slots, and ARGV 10 is empty here.
-- ARGV: 1 now|'T', 2 call id, 3 customer key base, 4 agent key base, 5 kind, 6 amount,
--       7 currency, 8 daily, 9 weekly, 10 agent hourly, 11 frequency, 12 takeover window,
--       13 half-life, 14 trust escalate floor, 15 trust block floor, 16 reservation ttl,
--       17 admit (i|n|a), 18 max events
local now = now_ms(ARGV[1])
local id = ARGV[2]
if KEYS[4] then
  local owner = redis.call('GET', KEYS[4])
  if owner and owner ~= ARGV[3] then return { 'conflict' } end
end

local all = redis.call('HGETALL', KEYS[1])
local events = {}
local n = 0
local max_at = now
local stale = {}
for i = 1, #all, 2 do
  local e = parse(all[i + 1])
  if e.at < now and now - e.at >= WEEK then
    stale[#stale + 1] = all[i]
  else
    events[all[i]] = e
    n = n + 1
    if e.at > max_at then max_at = e.at end
  end
end
if #stale > 0 then chunked('HDEL', KEYS[1], stale) end
local lac = tonumber(redis.call('GET', KEYS[2]) or '')
if lac and lac < now and now - lac >= WEEK then
  redis.call('DEL', KEYS[2])
  lac = nil
end

local found = events[id]
local revive = found and found.st == 'r'
local existing = found and not revive
local estate = nil
if existing then
  if found.st == 'c' then estate = 'committed'
  elseif now >= found.sb then estate = 'expired'
  else estate = 'pending' end
end

local kind = ARGV[5]
local amount = tonumber(ARGV[6])
local cur = ARGV[7]
local day, week, count = 0, 0, 0
for eid, e in pairs(events) do
  if not (existing and eid == id) and e.kind == kind and e.st ~= 'r' and in_window(now, e.at, WEEK) then
    count = count + 1
    if e.amount and cur ~= '' then
      if e.cur ~= cur then return { 'currency', e.cur } end
      week = week + e.amount
      if in_window(now, e.at, DAY) then day = day + e.amount end
    end
  end
end
local this = amount or 0
if week + this > MAXI then return { 'overflow' } end

local holds = false
local daily, weekly, alim = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
if cur ~= '' then
  if daily and day + this > daily then holds = true end
  if weekly and week + this > weekly then holds = true end
end
local atotal = ''
local asum = 0
if alim then
  asum = agent_prune(KEYS[5], KEYS[6], KEYS[7], now)
  local total = asum
  if existing then
    local a = tonumber(redis.call('HGET', KEYS[6], id) or '')
    if a then total = total - a end
  end
  if total + this > MAXI then return { 'overflow' } end
  if total + this > alim then holds = true end
  atotal = fmt_int(total)
end

count = count + 1
local freq = tonumber(ARGV[11])
if freq and count >= freq then holds = true end
local tw = tonumber(ARGV[12])
if tw and tw > 0 and lac and (lac >= now or now - lac < tw) then holds = true end

local tr = redis.call('HMGET', KEYS[3], 'acc', 'upd')
local acc_s, upd_s = tr[1] or '0', tr[2] or '0'
local acc, upd = tonumber(acc_s) or 0, tonumber(upd_s) or 0
local hl = tonumber(ARGV[13])
local trust = clamp01(1 - clamp01(acc * decay(since(now, upd), hl)))
local esc, blk = tonumber(ARGV[14]), tonumber(ARGV[15])
if (esc and trust < esc) or (blk and trust < blk) then holds = true end

local function reply(res)
  local d, w, l = '', '', ''
  if cur ~= '' then d, w = fmt_int(day), fmt_int(week) end
  if lac then l = fmt_int(lac) end
  return { 'ok', res, d, w, fmt_int(count), l, acc_s, upd_s, atotal, fmt_int(now) }
end

if existing then return reply(estate) end
local admit = ARGV[17]
if not (admit == 'a' or (admit == 'i' and not holds)) then return reply('not') end
if not revive and n >= tonumber(ARGV[18]) then return { 'full' } end

-- The facts describe the call before it reserved (as the memory store's do).
local answer = reply('reserved')
if amount and alim then agent_add(KEYS[5], KEYS[6], KEYS[7], now, id, amount, asum) end
local e = { kind = kind, amount = amount, cur = cur, at = now,
            sb = now + tonumber(ARGV[16]), st = 'p', agent = ARGV[4] }
redis.call('HSET', KEYS[1], id, encode(e))
redis.call('PEXPIRE', KEYS[1], math.ceil(max_at - now + WEEK + SLACK))
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[3], 'PX', WEEK + SLACK) end
if kind == 'account_change' then
  if not lac or now > lac then lac = now end
  redis.call('SET', KEYS[2], fmt_int(lac), 'PX', math.ceil(lac - now + WEEK + SLACK))
end
return answer
