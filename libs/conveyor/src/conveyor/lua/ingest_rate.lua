-- GCRA rate limit of one client, for n requests at once (those of one event-loop tick).
-- KEYS[1] the client's state (theoretical arrival time, us).
-- ARGV[1] now_us, ARGV[2] emission interval us, ARGV[3] burst tolerance us, ARGV[4] n.
-- Returns {allowed, wait_us}: the first `allowed` requests pass; the others may retry
-- after wait_us.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed = math.floor((now + tolerance - tat) / interval)
if allowed > n then allowed = n end
if allowed < 0 then allowed = 0 end
local wait = 0
if allowed < n then
  wait = math.ceil(tat + (allowed + 1) * interval - tolerance - now)
  if wait < 1 then wait = 1 end
end
if allowed > 0 then
  local new_tat = tat + allowed * interval
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX',
    math.ceil((new_tat - now) / 1000) + 1000)
end
return {allowed, wait}
