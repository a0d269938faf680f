-- requires: gcra
-- GCRA rate limit of one client, for n requests at once (those of one event-loop tick).
-- KEYS[1] the client's state (theoretical arrival time, us).
-- ARGV[1] now_us, ARGV[2] emission interval us, ARGV[3] burst tolerance us, ARGV[4] n.
-- Returns {allowed, wait_us}: the first `allowed` requests pass; the others may retry
-- after wait_us.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local allowed, tat = gcra_take(KEYS[1], now, interval, tolerance, n, false)
local wait = 0
if allowed < n then
  wait = gcra_wait(tat, now, interval, tolerance, allowed)
  if wait < 1 then wait = 1 end
end
return {allowed, wait}
