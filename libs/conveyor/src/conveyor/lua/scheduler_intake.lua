-- requires: timer_changes
-- File a batch of timers-in entries into the timer index, acknowledging each in the same step.
-- KEYS[1] timers-in stream, KEYS[2] timer index (zset), KEYS[3] timer entries (hash),
-- KEYS[4] events stream, KEYS[5] dead-letter stream, KEYS[6] change records (hash),
-- KEYS[7] their expiry (zset).
-- ARGV[1] group, ARGV[2] now (ms), then the ops:
--   F entry task_id due_ms doc n event...   file the timer (doc = stored JSON) + SCHEDULED event + XACK
--   D entry n dead...                       dead-letter an undecodable entry + XACK
-- A PUT whose replace reached the scheduler before its timer was filed found no timer to
-- change; the control step recorded it in KEYS[6]/KEYS[7] (timer_changes.lua). Filing a
-- timer takes its task's live record, if any, and applies it when it is newer than the timer
-- (changed_timer: a first attempt only; due_ms '' = due at the PUT's time), so the timer is
-- promoted at the new due time, and its SCHEDULED event says so.
-- Reply: {timers filed, timers changed by a record}.
local group, now = ARGV[1], ARGV[2]
local i = 3
local filed, changed = 0, 0

local function take_list()
  local n = tonumber(ARGV[i]); i = i + 1
  local list = {}
  for j = 1, n do list[j] = ARGV[i + j - 1] end
  i = i + n
  return list
end

-- The timer's document, due time and event with the task's recorded newer change applied.
local function with_record(task_id, due, doc, event)
  local rev, at, text = take_change(KEYS[6], KEYS[7], task_id, now)
  if not rev then return due, doc, event end
  local entry, new_due = changed_timer(cjson.decode(doc), rev, cjson.decode(text), at)
  if not entry then return due, doc, event end
  changed = changed + 1
  due = new_due or due
  return due, cjson.encode(entry), with_changes(event, {due_ms = due}, {'due_ms'}, {}, rev)
end

while i <= #ARGV do
  local op, entry = ARGV[i], ARGV[i + 1]
  i = i + 2
  if op == 'F' then
    local task_id, due, doc = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    local event = take_list()
    due, doc, event = with_record(task_id, due, doc, event)
    redis.call('ZADD', KEYS[2], due, task_id)
    redis.call('HSET', KEYS[3], task_id, doc)
    redis.call('XADD', KEYS[4], '*', unpack(event))
    filed = filed + 1
  else
    local dead = take_list()
    redis.call('XADD', KEYS[5], '*', unpack(dead))
  end
  redis.call('XACK', KEYS[1], group, entry)
end
prune_changes(KEYS[6], KEYS[7], now)
return {filed, changed}
