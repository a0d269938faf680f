-- requires: timer_changes
-- Apply a batch of control messages to the timer index, acknowledging each in the same step.
-- KEYS[1] control stream, KEYS[2] timer index (zset), KEYS[3] timer entries (hash).
-- ARGV[1] group, then the ops:
--   C entry task_id             cancel: drop the pending timer, if any
--   R entry task_id rev changes at
--                               replace: change a pending first-attempt timer whose task has
--                               an older revision: the changes (JSON, CHANGEABLE fields, ''
--                               removes; due_ms '' = due at `at`) and the revision apply to
--                               its fields and its pending event (timer_changes.lua). Without
--                               one a no-op: promoted, the workers apply it at the task's
--                               start; not filed yet, intake applies the workers' mark of it.
--   A entry                     acknowledge only (not for the scheduler, or malformed)
-- Reply: {timers dropped, timers replaced}.
local group = ARGV[1]
local i = 2
local dropped, replaced = 0, 0

local function replace(id, rev, text, at)
  local doc = redis.call('HGET', KEYS[3], id)
  if not doc then return 0 end
  local entry, due = changed_timer(cjson.decode(doc), rev, cjson.decode(text), at)
  if not entry then return 0 end
  redis.call('HSET', KEYS[3], id, cjson.encode(entry))
  if due then redis.call('ZADD', KEYS[2], due, id) end
  return 1
end

while i <= #ARGV do
  local op, entry = ARGV[i], ARGV[i + 1]
  i = i + 2
  if op == 'C' then
    local id = ARGV[i]; i = i + 1
    dropped = dropped + redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  elseif op == 'R' then
    replaced = replaced + replace(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  end
  redis.call('XACK', KEYS[1], group, entry)
end
return {dropped, replaced}
