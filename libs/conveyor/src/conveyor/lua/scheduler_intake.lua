-- File a batch of timers-in entries into the timer index, acknowledging each in the same step.
-- KEYS[1] timers-in stream, KEYS[2] timer index (zset), KEYS[3] timer entries (hash),
-- KEYS[4] events stream, KEYS[5] dead-letter stream.
-- ARGV[1] group, then the ops:
--   F entry task_id due_ms doc n event...   file the timer (doc = stored JSON) + SCHEDULED event + XACK
--   D entry n dead...                       dead-letter an undecodable entry + XACK
-- Reply: the number of timers filed.
local group = ARGV[1]
local i = 2
local filed = 0

local function take_list()
  local n = tonumber(ARGV[i]); i = i + 1
  local list = {}
  for j = 1, n do list[j] = ARGV[i + j - 1] end
  i = i + n
  return list
end

while i <= #ARGV do
  local op, entry = ARGV[i], ARGV[i + 1]
  i = i + 2
  if op == 'F' then
    local task_id, due, doc = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    local event = take_list()
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
return filed
