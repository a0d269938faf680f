-- requires: gcra
-- Rate limit of one task type, shared by every worker: when each task of a batch may run.
-- KEYS[1] the type's GCRA state (us), KEYS[2] its reservations (sorted set: task id -> the
-- slot, us, reserved for it when it was deferred).
-- ARGV[1] now_us, ARGV[2] emission interval us, ARGV[3] burst tolerance us,
-- ARGV[4] longest wait (us) the worker spends holding a task (further slots are reserved),
-- ARGV[5..] the task ids.
-- A task that comes back to a slot reserved for it takes no other one; the rest take the
-- next slots in order (so deferred tasks come back spaced at the rate, not all at once).
-- Returns one wait (us from now, 0: run now) per task id.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local hold = tonumber(ARGV[4])
local waits = {}
local fresh = {}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000000)
for i = 5, #ARGV do
  local slot = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if slot then
    local wait = math.ceil(tonumber(slot) - tolerance - now)
    if wait <= hold then
      redis.call('ZREM', KEYS[2], ARGV[i])
      if wait < 0 then wait = 0 end
    end
    waits[i - 4] = wait
  else
    fresh[#fresh + 1] = i - 4
  end
end
if #fresh > 0 then
  local allowed, tat = gcra_take(KEYS[1], now, interval, tolerance, #fresh, true)
  local furthest = 0
  for k = 1, #fresh do
    local wait = 0
    if k > allowed then wait = gcra_wait(tat, now, interval, tolerance, k - 1) end
    waits[fresh[k]] = wait
    if wait > hold then
      redis.call('ZADD', KEYS[2], now + wait + tolerance, ARGV[fresh[k] + 4])
      if wait > furthest then furthest = wait end
    end
  end
  local ttl = math.ceil(furthest / 1000) + 3600000
  if furthest > 0 and redis.call('PTTL', KEYS[2]) < ttl then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return waits
