-- Apply a batch of control messages to the timer index, acknowledging each in the same step.
-- KEYS[1] control stream, KEYS[2] timer index (zset), KEYS[3] timer entries (hash).
-- ARGV[1] group, then the ops:
--   C entry task_id             cancel: drop the pending timer, if any
--   U entry task_id due doc     update: replace the pending timer, only if it is still pending
--   A entry                     acknowledge only (not for the scheduler, or malformed)
-- Reply: {timers dropped, timers replaced}.
local group = ARGV[1]
local i = 2
local dropped, replaced = 0, 0
while i <= #ARGV do
  local op, entry = ARGV[i], ARGV[i + 1]
  i = i + 2
  if op == 'C' then
    local id = ARGV[i]; i = i + 1
    dropped = dropped + redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  elseif op == 'U' then
    local id, due, doc = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    -- A promoted task is no longer the scheduler's: an update arriving after promotion is too late.
    if redis.call('ZSCORE', KEYS[2], id) then
      redis.call('ZADD', KEYS[2], due, id)
      redis.call('HSET', KEYS[3], id, doc)
      replaced = replaced + 1
    end
  end
  redis.call('XACK', KEYS[1], group, entry)
end
return {dropped, replaced}
