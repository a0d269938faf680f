-- requires: ingest_record
-- Cancel or change a task that has not started: check its read-model status, XADD the
-- control message and record the change, as one atomic step.
-- KEYS[1] record, KEYS[2] control stream, KEYS[3] the task's accepted bucket.
-- ARGV[1] allowed statuses (space separated), ARGV[2] rank to set within the attempt,
-- ARGV[3] task id, ARGV[4] queue, ARGV[5] a replace's changes as a JSON object
-- ('' = not a replace), ARGV[6] n, n control fields, then record field pairs to set.
-- A compact accepted record is first turned into the record hash (materialise).
-- A replace bumps the record's revision and merges its changes into the record's
-- cumulative ones; the control message gets both (revision, changes), so the changed
-- task can be rebuilt from any older copy of it (timer or task stream entry).
-- Returns 'ok' ('ok:<revision>' for a replace), 'missing', or the status that forbids it.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  local accepted = materialise(KEYS[1], KEYS[3], ARGV[3], ARGV[4], true)
  if accepted then status = accepted[1] end
end
if not status then return 'missing' end
if not string.find(' ' .. ARGV[1] .. ' ', ' ' .. status .. ' ', 1, true) then return status end
local n = tonumber(ARGV[6])
local fields = {}
for i = 1, n do fields[i] = ARGV[6 + i] end
local record = {}
for i = 7 + n, #ARGV do record[#record + 1] = ARGV[i] end
local reply = 'ok'
if ARGV[5] ~= '' then
  local revision = redis.call('HINCRBY', KEYS[1], 'revision', 1)
  local merged = cjson.decode(redis.call('HGET', KEYS[1], 'changes') or '{}')
  for name, value in pairs(cjson.decode(ARGV[5])) do merged[name] = value end
  local changes = cjson.encode(merged)
  redis.call('HSET', KEYS[1], 'changes', changes)
  fields[#fields + 1] = 'revision'; fields[#fields + 1] = revision
  fields[#fields + 1] = 'changes'; fields[#fields + 1] = changes
  reply = 'ok:' .. revision
end
redis.call('XADD', KEYS[2], '*', unpack(fields))
local order = tonumber(redis.call('HGET', KEYS[1], 'order') or '0')
local rank = tonumber(ARGV[2])
if rank >= 0 then
  order = order - (order % 10) + rank
end
redis.call('HSET', KEYS[1], 'order', order, unpack(record))
return reply
