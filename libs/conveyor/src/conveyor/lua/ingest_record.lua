-- Shared by ingest_apply_events.lua and ingest_change.lua (prepended to them when loaded):
-- turns a task's compact accepted record (ingest_enqueue.lua) into its record hash.
-- Returns the compact record's fields ({status, created_ms, attempt, type, origin, due_ms,
-- replay_of, traceparent, subject[, event_attributes]}), or nil when there was none. With keep_ttl the hash gets
-- the bucket's remaining TTL (callers that set their own TTL right after skip that).
local function materialise(record, bucket, task_id, queue, keep_ttl)
  local packed = redis.call('HGET', bucket, task_id)
  if not packed then return nil end
  local r = cjson.decode(packed)
  redis.call('HSET', record, 'id', task_id, 'type', r[4], 'queue', queue, 'status', r[1],
    'attempt', r[3], 'attempts', 0, 'subject', r[9], 'origin', r[5], 'created_ms', r[2],
    'order', tonumber(r[3]) * 10 + 1)
  if r[6] ~= '' then redis.call('HSET', record, 'due_ms', r[6]) end
  if r[7] ~= '' then redis.call('HSET', record, 'replay_of', r[7]) end
  if r[8] ~= '' then redis.call('HSET', record, 'traceparent', r[8]) end
  if r[10] then redis.call('HSET', record, 'event_attributes', r[10]) end
  if keep_ttl then
    local ttl = redis.call('PTTL', bucket)
    if ttl > 0 then redis.call('PEXPIRE', record, ttl) end
  end
  redis.call('HDEL', bucket, task_id)
  return r
end
