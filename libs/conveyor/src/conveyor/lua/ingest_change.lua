-- Cancel or update a task that has not started: check its read-model status, XADD the
-- control message and record the change, as one atomic step.
-- KEYS[1] record, KEYS[2] control stream, KEYS[3] the task's accepted bucket.
-- ARGV[1] allowed statuses (space separated), ARGV[2] rank to set within the attempt,
-- ARGV[3] task id, ARGV[4] queue, ARGV[5] n, n control fields, then record field pairs.
-- Returns 'ok', 'missing', or the status that forbids the change.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  local accepted = materialise(KEYS[1], KEYS[3], ARGV[3], ARGV[4], true)
  if accepted then status = accepted[1] end
end
if not status then return 'missing' end
if not string.find(' ' .. ARGV[1] .. ' ', ' ' .. status .. ' ', 1, true) then return status end
local n = tonumber(ARGV[5])
local fields = {}
for i = 1, n do fields[i] = ARGV[5 + i] end
local record = {}
for i = 6 + n, #ARGV do record[#record + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(fields))
local order = tonumber(redis.call('HGET', KEYS[1], 'order') or '0')
local rank = tonumber(ARGV[2])
if rank >= 0 then
  order = order - (order % 10) + rank
end
redis.call('HSET', KEYS[1], 'order', order, unpack(record))
return 'ok'
