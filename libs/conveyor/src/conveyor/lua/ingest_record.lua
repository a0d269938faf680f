-- Shared by ingest_apply_events.lua and ingest_change.lua (prepended to them when loaded):
-- turns a task's compact accepted record (ingest_enqueue.lua) into its record hash.
-- Returns true when there was one. The hash keeps the bucket's remaining TTL.
local function materialise(record, bucket, task_id, queue)
  local packed = redis.call('HGET', bucket, task_id)
  if not packed then return false end
  local r = cjson.decode(packed)
  redis.call('HSET', record, 'id', task_id, 'type', r[4], 'queue', queue, 'status', r[1],
    'attempt', r[3], 'attempts', 0, 'subject', r[9], 'origin', r[5], 'created_ms', r[2],
    'order', tonumber(r[3]) * 10 + 1)
  if r[6] ~= '' then redis.call('HSET', record, 'due_ms', r[6]) end
  if r[7] ~= '' then redis.call('HSET', record, 'replay_of', r[7]) end
  if r[8] ~= '' then redis.call('HSET', record, 'task', r[8]) end
  local ttl = redis.call('PTTL', bucket)
  if ttl > 0 then redis.call('PEXPIRE', record, ttl) end
  redis.call('HDEL', bucket, task_id)
  return true
end
