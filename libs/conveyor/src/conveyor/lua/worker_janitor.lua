-- Janitor pass over a queue's streams, guarded by a lease so one worker at a time runs it.
-- KEYS[1] lease, KEYS[2..] streams to clean. ARGV[1] lease holder, ARGV[2] lease ms,
-- ARGV[3] consumer idle threshold (ms).
-- Per stream: delete consumers idle past the threshold with nothing pending (never one
-- with pending entries), then XTRIM MINID to the lowest of every group's oldest pending
-- id and every group's last-delivered id, so nothing unacknowledged is ever trimmed.
-- Reply: -1 when another worker holds the lease, else {consumers deleted, entries trimmed}.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local idle_limit = tonumber(ARGV[3])

local function as_map(flat)
  local m = {}
  for j = 1, #flat, 2 do m[flat[j]] = flat[j + 1] end
  return m
end

local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function lower(a, b)
  if not a then return b end
  local am, as = parse_id(a)
  local bm, bs = parse_id(b)
  if bm < am or (bm == am and bs < as) then return b end
  return a
end

local deleted, trimmed = 0, 0
for k = 2, #KEYS do
  local stream = KEYS[k]
  if redis.call('EXISTS', stream) == 1 then
    local groups = redis.call('XINFO', 'GROUPS', stream)
    local floor = nil
    for _, g in ipairs(groups) do
      local info = as_map(g)
      for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, info['name'])) do
        local ci = as_map(c)
        if tonumber(ci['pending']) == 0 and tonumber(ci['idle']) >= idle_limit then
          redis.call('XGROUP', 'DELCONSUMER', stream, info['name'], ci['name'])
          deleted = deleted + 1
        end
      end
      floor = lower(floor, info['last-delivered-id'])
      local summary = redis.call('XPENDING', stream, info['name'])
      if tonumber(summary[1]) > 0 then floor = lower(floor, summary[2]) end
    end
    if floor then trimmed = trimmed + redis.call('XTRIM', stream, 'MINID', floor) end
  end
end
return {deleted, trimmed}
