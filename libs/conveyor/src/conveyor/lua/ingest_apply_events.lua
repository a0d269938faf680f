-- requires: ingest_record
-- Apply lifecycle events of one queue to the read model and XACK them, atomically.
-- KEYS[1] events stream, KEYS[2] status index, KEYS[3] outcome counters (hash), then per
-- event: the task's record and its accepted bucket.
-- ARGV[1] group, ARGV[2] retention_ms, ARGV[3] now_ms, ARGV[4] queue, then per event:
-- entry id, order, index member, task id, counter field ('' for none), c, c create fields,
-- u, u update fields.
-- The event's counter field is incremented only when this call's XACK acknowledged it, so
-- an event applied twice (claimed from a consumer that stalled) is counted once.
-- A task still held as a compact accepted record becomes its record hash first (it has
-- its index entry already). An event whose order is below the record's is stale (e.g. a
-- pending event after the cancel that followed it) and only its create fields apply to a
-- new record.
local retention = tonumber(ARGV[2])
local a = 5
for k = 4, #KEYS, 2 do
  local key = KEYS[k]
  local entry = ARGV[a]
  local order = tonumber(ARGV[a + 1])
  local member = ARGV[a + 2]
  local task_id = ARGV[a + 3]
  local counter = ARGV[a + 4]
  local nc = tonumber(ARGV[a + 5])
  local create = {}
  for i = 1, nc do create[i] = ARGV[a + 5 + i] end
  a = a + 6 + nc
  local nu = tonumber(ARGV[a])
  local update = {}
  for i = 1, nu do update[i] = ARGV[a + i] end
  a = a + 1 + nu
  local current = redis.call('HGET', key, 'order')
  if not current then
    local accepted = materialise(key, KEYS[k + 1], task_id, ARGV[4], false)
    if accepted then current = tonumber(accepted[3]) * 10 + 1 end
  end
  if not current then
    redis.call('HSET', key, unpack(create))
    redis.call('ZADD', KEYS[2], 0, member)
  end
  if (not current or order >= tonumber(current)) and nu > 0 then
    redis.call('HSET', key, 'order', order, unpack(update))
  end
  redis.call('PEXPIRE', key, retention)
  if redis.call('XACK', KEYS[1], ARGV[1], entry) == 1 and counter ~= '' then
    redis.call('HINCRBY', KEYS[3], counter, 1)
  end
end
redis.call('ZREMRANGEBYLEX', KEYS[2], '-', '(' .. string.format('%013d', tonumber(ARGV[3]) - retention))
return (#KEYS - 3) / 2
