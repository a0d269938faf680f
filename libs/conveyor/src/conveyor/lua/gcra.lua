-- Shared by ingest_rate.lua and worker_rate.lua (prepended to them when loaded): GCRA, the
-- generic cell rate algorithm. The state at `key` is the theoretical arrival time (tat, us);
-- `interval` is 1/rate and `tolerance` is interval x burst (us).
-- gcra_take: n requests at `now`. Returns (allowed, tat): the first `allowed` pass now; tat
-- is the state before the call (at least now). With `reserve`, the other n - allowed take
-- their later slots too (the caller runs each when gcra_wait says).
local function gcra_take(key, now, interval, tolerance, n, reserve)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local allowed = math.floor((now + tolerance - tat) / interval)
  if allowed > n then allowed = n end
  if allowed < 0 then allowed = 0 end
  local taken = allowed
  if reserve then taken = n end
  if taken > 0 then
    local new_tat = tat + taken * interval
    redis.call('SET', key, string.format('%d', new_tat), 'PX',
      math.ceil((new_tat - now) / 1000) + 1000)
  end
  return allowed, tat
end

-- Microseconds from `now` until request k (from 0) of a gcra_take call may pass.
local function gcra_wait(tat, now, interval, tolerance, k)
  local wait = math.ceil(tat + (k + 1) * interval - tolerance - now)
  if wait < 0 then wait = 0 end
  return wait
end
