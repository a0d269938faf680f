-- requires: timer_changes
-- Apply a batch of control messages to the timer index, acknowledging each in the same step.
-- KEYS[1] control stream, KEYS[2] timer index (zset), KEYS[3] timer entries (hash),
-- KEYS[4] change records (hash), KEYS[5] their expiry (zset; timer_changes.lua).
-- ARGV[1] group, ARGV[2] now (ms), then the ops:
--   C entry task_id             cancel: drop the pending timer and the change record, if any
--   R entry task_id rev changes at until
--                               replace: change a pending first-attempt timer whose task has
--                               an older revision: the changes (JSON, CHANGEABLE fields, ''
--                               removes; due_ms '' = due at `at`) and the revision apply to
--                               its fields and its pending event (timer_changes.lua). With no
--                               timer of the task, record the change until `until` (intake
--                               applies it when it files the timer; promoted already, the
--                               workers apply it at the task's start and the record expires).
--   A entry                     acknowledge only (not for the scheduler, or malformed)
-- Then expired change records are dropped (a bounded number per call).
-- Reply: {timers dropped, timers replaced}.
local group, now = ARGV[1], ARGV[2]
local i = 3
local dropped, replaced = 0, 0

local function replace(id, rev, text, at, until_ms)
  local doc = redis.call('HGET', KEYS[3], id)
  if not doc then
    if tonumber(until_ms) >= tonumber(now) then
      record_change(KEYS[4], KEYS[5], id, rev, at, text, until_ms)
    end
    return 0
  end
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
    forget_change(KEYS[4], KEYS[5], id)
  elseif op == 'R' then
    replaced = replaced + replace(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
    i = i + 5
  end
  redis.call('XACK', KEYS[1], group, entry)
end
prune_changes(KEYS[4], KEYS[5], now)
return {dropped, replaced}
