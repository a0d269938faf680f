-- Apply lifecycle events of one queue to the read model and XACK them, atomically.
-- KEYS[1] events stream, KEYS[2] status index, KEYS[3..] one record key per event.
-- ARGV[1] group, ARGV[2] retention_ms, ARGV[3] now_ms, then per event:
-- entry id, order, index member, c, c create fields, u, u update fields.
-- An event whose order is below the record's is stale (e.g. a pending event after
-- the cancel that followed it) and only its create fields apply to a new record.
local retention = tonumber(ARGV[2])
local a = 4
for k = 3, #KEYS do
  local key = KEYS[k]
  local entry = ARGV[a]
  local order = tonumber(ARGV[a + 1])
  local member = ARGV[a + 2]
  local nc = tonumber(ARGV[a + 3])
  local create = {}
  for i = 1, nc do create[i] = ARGV[a + 3 + i] end
  a = a + 4 + nc
  local nu = tonumber(ARGV[a])
  local update = {}
  for i = 1, nu do update[i] = ARGV[a + i] end
  a = a + 1 + nu
  local current = redis.call('HGET', key, 'order')
  if not current then
    redis.call('HSET', key, unpack(create))
    redis.call('ZADD', KEYS[2], 0, member)
  end
  if (not current or order >= tonumber(current)) and nu > 0 then
    redis.call('HSET', key, 'order', order, unpack(update))
  end
  redis.call('PEXPIRE', key, retention)
  redis.call('XACK', KEYS[1], ARGV[1], entry)
end
redis.call('ZREMRANGEBYLEX', KEYS[2], '-', '(' .. string.format('%013d', tonumber(ARGV[3]) - retention))
return #KEYS - 2
